import CoalesceCore
@testable import CoalesceHost
import Foundation
import Glibc
import Testing

/// The restore journal's file handling and its checks against the claim's lock, this
/// boot, the namespace and the interface. Real files and real `flock`s in a temporary
/// directory; the interface is `lo`, which exists in every network namespace (nothing
/// is applied to it here: the recovery that applies settings is tested on a veth in
/// EndToEndTests/AgentTests and on the real e1000e driver by Tools/testbed/check).
/// So no test here calls `acquire` or `recover` while a left-behind journal for `lo`
/// exists: that would apply its recorded settings to the machine's loopback.
@Suite("restore journal")
struct RestoreJournalTests {
    func withStore(_ body: (RestoreJournalStore) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "coalesce-journal-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(RestoreJournalStore(directory: dir + "/state"))
    }

    func journalOfThisProcess() throws -> RestoreJournal {
        try RestoreJournal.forCurrentProcess(
            interface: "lo", original: LayerSetting(rxUsecs: 8, rxFrames: 16, groFlushTimeoutNs: 20_000), program: "test")
    }

    @Test("a journal is written atomically, read back equal, and removed; a missing one reads as none")
    func roundTrip() throws {
        try withStore { store in
            #expect(try store.read(interface: "lo") == nil)
            #expect(try store.state(interface: "lo") == .none)
            let journal = try journalOfThisProcess()
            try store.write(journal)
            #expect(try store.read(interface: "lo") == journal)
            let text = try String(contentsOfFile: store.path(for: "lo"), encoding: .utf8)
            #expect(text.contains("\"original\" : \"rx-usecs=8,rx-frames=16,gro-flush-timeout=20000\""))
            #expect(try journal.originalSetting(path: "p") == LayerSetting(rxUsecs: 8, rxFrames: 16, groFlushTimeoutNs: 20_000))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.interfaceDirectory("lo"))
            #expect(leftovers == ["journal.json"], "no temporary file left: \(leftovers)")
            #expect(store.path(for: "lo") == store.directory + "/lo/journal.json")
            try store.remove(interface: "lo")
            #expect(try store.read(interface: "lo") == nil)
            try store.remove(interface: "lo")  // removing nothing is not an error
        }
    }

    @Test("a claim is an exclusive lock: a second claimant is refused by name until the first claim is gone")
    func claimIsExclusive() throws {
        try withStore { store in
            var first: InterfaceClaim? = try InterfaceClaim.acquire(interface: "lo", store: store, program: "first").claim
            // Before it records, the refusal cannot name it.
            #expect(try store.state(interface: "lo") == .claimed(nil))
            #expect(throws: RestoreJournalError.inUse(path: store.lockPath(for: "lo"), interface: "lo", holder: nil)) {
                try InterfaceClaim.acquire(interface: "lo", store: store, program: "second")
            }
            try first!.record(original: LayerSetting(groFlushTimeoutNs: 20_000), watching: try HostActuator(interface: "lo"))
            let journal = try #require(try store.read(interface: "lo"))
            #expect(try store.state(interface: "lo") == .claimed(journal))
            #expect(throws: RestoreJournalError.inUse(path: store.lockPath(for: "lo"), interface: "lo", holder: "first (pid \(getpid()))")) {
                try InterfaceClaim.recover(interface: "lo", store: store)
            }
            #expect(try store.read(interface: "lo") == journal, "a claimed journal is never touched")
            // The lock goes with the claim (as it goes with a killed process): its journal
            // is then left behind.
            first = nil
            #expect(try store.state(interface: "lo") == .leftBehind(journal))
            try store.remove(interface: "lo")  // not recovered here: see the suite's comment
            let second = try InterfaceClaim.acquire(interface: "lo", store: store, program: "second").claim
            #expect(second.program == "second")
        }
    }

    @Test("release removes only a journal the claim recorded itself")
    func releaseOnlyOwnJournal() throws {
        try withStore { store in
            let claim = try InterfaceClaim.acquire(interface: "lo", store: store, program: "p").claim
            let other = try journalOfThisProcess()
            try store.write(other)
            try claim.release()
            #expect(try store.read(interface: "lo") == other, "never recorded, so not this claim's to remove")
            try claim.record(original: .unmoderated, watching: try HostActuator(interface: "lo"))
            try claim.release()
            #expect(try store.read(interface: "lo") == nil)
        }
    }

    @Test("a dead owner's journal is left behind; another boot or a recreated or missing interface makes it stale")
    func deadOwner() throws {
        try withStore { store in
            // Nobody holds the claim: whoever wrote it is gone.
            let journal = try journalOfThisProcess()
            try store.write(journal)
            #expect(try store.state(interface: "lo") == .leftBehind(journal))

            var recreated = journal
            recreated.ifindex += 1000
            try store.write(recreated)
            guard case .stale(_, let reason) = try store.state(interface: "lo") else { Issue.record("not stale"); return }
            #expect(reason.contains("recreated"))

            var rebooted = journal
            rebooted.bootID = "00000000-0000-0000-0000-000000000000"
            try store.write(rebooted)
            guard case .stale(_, let why) = try store.state(interface: "lo") else { Issue.record("not stale"); return }
            #expect(why.contains("reboot"))
            // A stale journal is removed by recovery, which applies nothing.
            #expect(try InterfaceClaim.recover(interface: "lo", store: store) == .discarded(reason: why))
            #expect(try store.read(interface: "lo") == nil)

            var gone = journal
            gone.interface = "coalesce-gone0"
            try store.write(gone)
            guard case .stale(_, let missing) = try store.state(interface: "coalesce-gone0") else { Issue.record("not stale"); return }
            #expect(missing.contains("no longer exists"))
        }
    }

    @Test("a journal of a same-named interface in another network namespace is refused by name")
    func otherNamespace() throws {
        try withStore { store in
            var journal = try journalOfThisProcess()
            journal.netns &+= 1
            try store.write(journal)
            #expect(throws: RestoreJournalError.otherNamespace(path: store.path(for: "lo"), interface: "lo", netns: journal.netns)) {
                try store.state(interface: "lo")
            }
        }
    }

    @Test("corrupt journals are refused with the file and what is wrong", arguments: [
        ("", "the file is empty"),
        ("{not json", "not valid JSON"),
        (#"{"format":"coalesce-restore-journal","version":1}"#, "missing 'interface'"),
        (#"{"format":"something-else","version":1,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=0","applied":"rx-usecs=0"}"#, "format 'something-else'"),
        (#"{"format":"coalesce-restore-journal","version":2,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=0","applied":"rx-usecs=0"}"#, "version 2"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"eth9","ifindex":1,"netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=0","applied":"rx-usecs=0"}"#, "names interface 'eth9'"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=fast","applied":"rx-usecs=0"}"#, "'original' is not a setting"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"lo","ifindex":"one","netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=0","applied":"rx-usecs=0"}"#, "'ifindex' must be an integer"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"program":"p","original":"rx-usecs=0","applied":"rx-usecs=0","applying":"rx-usecs=x"}"#, "'applying' is not a setting"),
    ])
    func corrupt(text: String, expected: String) throws {
        try withStore { store in
            try FileManager.default.createDirectory(atPath: store.interfaceDirectory("lo"), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: store.path(for: "lo")))
            do {
                _ = try store.read(interface: "lo")
                Issue.record("accepted: \(text)")
            } catch let error as RestoreJournalError {
                guard case .corrupt(let path, let detail) = error else { Issue.record("\(error)"); return }
                #expect(path == store.path(for: "lo"))
                #expect(detail.contains(expected), "\(detail)")
                #expect(error.description.contains("remove the file"))
            }
        }
    }

    @Test("a state directory that cannot be created is an error naming it")
    func unwritableDirectory() throws {
        let store = RestoreJournalStore(directory: "/proc/coalesce-cannot-exist")
        #expect(throws: RestoreJournalError.self) { try store.write(try journalOfThisProcess()) }
        do { try store.write(try journalOfThisProcess()) } catch let error as RestoreJournalError {
            #expect(error.description.contains("/proc/coalesce-cannot-exist"))
        }
        // Without the rights, the message says what changing coalescing needs.
        let denied = RestoreJournalError.io(path: "/run/coalesce", operation: "create directory", errno: EACCES)
        #expect(denied.description.contains("Permission denied") && denied.description.contains("--dry-run needs neither"))
    }
}
