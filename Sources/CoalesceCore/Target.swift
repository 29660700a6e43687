/// Something the control loop can observe and configure: a live Linux host
/// (`HostTarget` in CoalesceHost) or a simulated one (`SimTarget` in CoalesceSim).
///
/// Because both implement this one protocol, the code tested in the lab is the
/// code that runs on hosts.
public protocol Target {
    /// How many coalescing layers this target has (1 = bare metal, 2 = physical + virtual NIC).
    var layerCount: Int { get }
    /// A short human-readable name for logs and dataset headers (e.g. `eth0`, `sim:rpc-low`).
    var name: String { get }
    /// Lets one control interval pass: a host sleeps until its next deadline, a
    /// simulator runs its events up to it.
    mutating func advance(intervalNs: UInt64) throws
    /// Reads the counters now.
    mutating func sample() throws -> Sample
    /// Configures every layer. Throws when the device refuses (the error names the
    /// interface and the kernel's reason).
    mutating func apply(_ setting: CoalescingSetting) throws
}
