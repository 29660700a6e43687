import CoalesceCore
@testable import CoalesceHost
import Foundation
import Glibc
import Testing

/// The restore journal's file handling and its checks against this boot, namespace,
/// process table and interface. Real files in a temporary directory; the interface is
/// `lo`, which exists in every network namespace (nothing is applied to it here: the
/// recovery that applies settings is tested on a veth in EndToEndTests/AgentTests).
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
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.directory)
            #expect(leftovers == ["lo.json"], "no temporary file left: \(leftovers)")
            try store.remove(interface: "lo")
            #expect(try store.read(interface: "lo") == nil)
            try store.remove(interface: "lo")  // removing nothing is not an error
        }
    }

    @Test("the journal of a running process claims the interface; recovery refuses and names it")
    func runningOwnerClaims() throws {
        try withStore { store in
            let journal = try journalOfThisProcess()
            try store.write(journal)
            #expect(try store.state(interface: "lo") == .claimed(journal))
            #expect(throws: RestoreJournalError.inUse(path: store.path(for: "lo"), interface: "lo", pid: getpid(), program: "test")) {
                try InterfaceClaim.recover(interface: "lo", store: store)
            }
            #expect(try store.read(interface: "lo") == journal, "a claimed journal is never removed")
        }
    }

    @Test("recording a claim is exclusive: a journal written meanwhile by a running program refuses the second")
    func recordIsExclusive() throws {
        try withStore { store in
            let (claim, recovery) = try InterfaceClaim.acquire(interface: "lo", store: store, program: "second")
            #expect(recovery == nil)
            // Between acquire and record, another running program (this process, playing
            // it) records its claim first.
            let first = try journalOfThisProcess()
            try store.write(first)
            #expect(throws: RestoreJournalError.inUse(path: store.path(for: "lo"), interface: "lo", pid: getpid(), program: "test")) {
                try claim.record(original: .unmoderated)
            }
            #expect(try store.read(interface: "lo") == first, "the first claim stands")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.directory)
            #expect(leftovers == ["lo.json"], "no temporary file left: \(leftovers)")
            // Once it is gone, the claim records.
            try store.remove(interface: "lo")
            try claim.record(original: .unmoderated)
            #expect(try store.read(interface: "lo")?.program == "second")
        }
    }

    @Test("a dead owner's journal is left behind; another boot or a recreated or missing interface makes it stale")
    func deadOwner() throws {
        try withStore { store in
            var journal = try journalOfThisProcess()
            // Same pid, another start time: the pid was reused, the writer is gone.
            journal.processStartTicks &+= 1
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
        (#"{"format":"something-else","version":1,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"process_start_ticks":1,"program":"p","original":"rx-usecs=0"}"#, "format 'something-else'"),
        (#"{"format":"coalesce-restore-journal","version":2,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"process_start_ticks":1,"program":"p","original":"rx-usecs=0"}"#, "version 2"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"eth9","ifindex":1,"netns":1,"boot_id":"b","pid":1,"process_start_ticks":1,"program":"p","original":"rx-usecs=0"}"#, "names interface 'eth9'"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"lo","ifindex":1,"netns":1,"boot_id":"b","pid":1,"process_start_ticks":1,"program":"p","original":"rx-usecs=fast"}"#, "'original' is not a setting"),
        (#"{"format":"coalesce-restore-journal","version":1,"interface":"lo","ifindex":"one","netns":1,"boot_id":"b","pid":1,"process_start_ticks":1,"program":"p","original":"rx-usecs=0"}"#, "'ifindex' must be an integer"),
    ])
    func corrupt(text: String, expected: String) throws {
        try withStore { store in
            try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
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

    @Test("a process's start time is field 22 of its stat line, whatever its command name holds")
    func startTicksParsing() {
        let tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 99 100"
        #expect(SystemIdentity.startTicks(statLine: "123 (coalesce-agent)" + tail) == 424242)
        #expect(SystemIdentity.startTicks(statLine: "123 (a) b (c))" + tail) == 424242, "')' and spaces in the name")
        #expect(SystemIdentity.startTicks(statLine: "123 (short) S 1 2") == nil)
        #expect(SystemIdentity.processStartTicks(pid: getpid()) != nil)
        #expect(SystemIdentity.processStartTicks(pid: 0) == nil)
    }
}
