import CoalesceCore
@testable import CoalesceHost
import Testing

@Suite("e1000e ITR semantics")
struct E1000eSemanticsTests {
    /// The COALESCE_GET reply of e1000e: it declares rx-usecs only.
    static func raw(_ usecs: UInt32) -> EthtoolCoalesce { EthtoolCoalesce(values: [.rxUsecs: usecs]) }

    @Test("every action of ActionSpace.e1000e is sent as exactly its rx-usecs and reads back as itself")
    func roundTrip() {
        for setting in ActionSpace.e1000e.settings {
            let want = setting.layers[0]
            // From the driver's default (rx-usecs 3) and from a static value.
            for start: UInt32 in [3, 1000] {
                let (changes, unsupported) = HardwareActuator.plan(from: Self.raw(start), to: want, driver: "e1000e")
                #expect(unsupported.isEmpty, "\(setting.specText): \(unsupported)")
                let sent = changes[.rxUsecs] ?? start
                #expect(sent == want.rxUsecs, "\(setting.specText) from \(start) sends rx-usecs \(sent)")
                #expect(changes.values.keys.allSatisfy { $0 == .rxUsecs })
                var read = LayerSetting.unmoderated
                HardwareActuator.decode(Self.raw(sent), driver: "e1000e", into: &read)
                #expect(read == want)
            }
        }
    }

    @Test("adaptive-rx=itr is rx-usecs 3 unless rx-usecs is 1; other drivers cannot do it")
    func itrMapping() {
        let itr8 = LayerSetting(rxUsecs: 8, rxFrames: 16, txUsecs: 16, txFrames: 32, adaptiveRx: .intelITR)
        let (changes, _) = HardwareActuator.plan(from: Self.raw(0), to: itr8, driver: "e1000e")
        #expect(changes[.rxUsecs] == 3)
        let (c1, _) = HardwareActuator.plan(from: Self.raw(0), to: LayerSetting(rxUsecs: 1, adaptiveRx: .intelITR), driver: "igb")
        #expect(c1[.rxUsecs] == 1)
        let (_, refused) = HardwareActuator.plan(from: Self.raw(0), to: LayerSetting(rxUsecs: 1, adaptiveRx: .intelITR), driver: "virtio_net")
        #expect(refused == ["adaptive-rx=itr"])
    }

    @Test("canonical: rx-usecs 1 and 3 are the ITR modes on Intel drivers only")
    func canonical() {
        #expect(HardwareActuator.canonical(LayerSetting(rxUsecs: 1), driver: "e1000e") == LayerSetting(rxUsecs: 1, adaptiveRx: .intelITR))
        #expect(HardwareActuator.canonical(LayerSetting(rxUsecs: 3), driver: "e1000e") == LayerSetting(rxUsecs: 3, adaptiveRx: .intelITR))
        #expect(HardwareActuator.canonical(LayerSetting(rxUsecs: 0), driver: "e1000e") == LayerSetting(rxUsecs: 0))
        #expect(HardwareActuator.canonical(LayerSetting(rxUsecs: 3), driver: "virtio_net") == LayerSetting(rxUsecs: 3))
    }
}
