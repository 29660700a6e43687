import Testing
@testable import CoalesceCore

@Suite("Coalescing specs and action spaces")
struct SettingSpecTests {
    @Test func unqualifiedKeysApplyToEveryLayerAndQualifiedOnesToOne() throws {
        let s = try CoalescingSetting.parse("rx-usecs=8,vnic.rx-usecs=64,rx-frames=32", layerCount: 2)
        #expect(s.layers[0].rxUsecs == 8 && s.layers[1].rxUsecs == 64)
        #expect(s.layers[0].rxFrames == 32 && s.layers[1].rxFrames == 32)
    }

    @Test func specTextRoundTrips() throws {
        for space in [ActionSpace.bareMetal, .virtualized] {
            for setting in space.settings {
                #expect(try CoalescingSetting.parse(setting.specText, layerCount: space.layerCount) == setting)
            }
        }
    }

    @Test func errorsNameTheProblem() {
        #expect(throws: SettingSpecError.unknownKey("rx-usec")) { try CoalescingSetting.parse("rx-usec=3", layerCount: 1) }
        #expect(throws: SettingSpecError.badValue(key: "rx-usecs", value: "-1")) { try CoalescingSetting.parse("rx-usecs=-1", layerCount: 1) }
        #expect(throws: SettingSpecError.layerOutOfRange("vnic", layerCount: 1)) { try CoalescingSetting.parse("vnic.rx-usecs=3", layerCount: 1) }
    }

    @Test func defaultSpacesHaveSixteenDistinctActionsWithStaticOnesOrdered() {
        #expect(ActionSpace.bareMetal.count == 16 && ActionSpace.virtualized.count == 16)
        let usecs = ActionSpace.bareMetal.settings.prefix(12).map { $0.layers[0].rxUsecs }
        #expect(usecs == usecs.sorted())
    }

    @Test func duplicatesAreRejected() {
        let s = CoalescingSetting(uniform: .unmoderated)
        #expect(throws: ActionSpaceError.duplicate("x", first: 0, second: 1)) { try ActionSpace(name: "x", settings: [s, s]) }
    }
}
