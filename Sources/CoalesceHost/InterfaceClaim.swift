import CoalesceCore
import Glibc

/// Where an interface's restore journal stands, checked against its claim's lock, this
/// boot, the network namespace and the interface itself.
public enum RestoreJournalState: Equatable, Sendable {
    /// No journal: nobody changed the interface, or everybody restored it.
    case none
    /// A running program holds the claim (its journal, once it has recorded one).
    case claimed(RestoreJournal?)
    /// Its program is gone without restoring: the recorded settings are to be put back.
    case leftBehind(RestoreJournal)
    /// It no longer applies (another boot, or the interface is gone or was recreated):
    /// nothing to put back.
    case stale(RestoreJournal, reason: String)
}

/// What claiming an interface did about a journal an earlier run left.
public enum RestoreJournalRecovery: Equatable, Sendable {
    /// Put the recorded settings back, which `program` (pid) had changed and not restored.
    case restored(setting: String, program: String, pid: Int32)
    /// Removed a journal that no longer applied.
    case discarded(reason: String)

    /// One line for the operator.
    public var message: String {
        switch self {
        case .restored(let s, let program, let pid):
            return "put back the coalescing \(program) (pid \(pid)) had changed and not restored: \(s)"
        case .discarded(let reason):
            return "removed a restore journal that no longer applies: \(reason)"
        }
    }
}

/// A program's claim on an interface's coalescing: an exclusive `flock` on
/// `DIR/IF/lock`, held for as long as this object lives, plus the restore journal.
///
/// The kernel drops the lock when the process dies, however it dies, so "is the
/// journal's program still running?" is answered by trying the lock — not by its pid,
/// which a zombie, a reused pid or another pid namespace would get wrong — and two
/// programs can never both hold the claim, so they cannot both recover, record or
/// release. The order that keeps every interface restorable: `acquire` before reading
/// the settings to restore later (it first puts back what a dead run left, so that
/// those are the operator's, not the dead run's), `record` before the first change,
/// `release` once the settings are back; the lock goes with the object.
public final class InterfaceClaim: ApplyObserver {
    /// The interface.
    public let interface: String
    /// Where its journal and lock live.
    public let store: RestoreJournalStore
    /// The claiming program, for the record and messages.
    public let program: String
    /// Whether this claim has written the journal (and so may remove it).
    public var recorded: Bool { journal != nil }
    /// The journal this claim wrote, as last written.
    public private(set) var journal: RestoreJournal?
    private var lockDescriptor: Int32

    private init(interface: String, store: RestoreJournalStore, program: String, lockDescriptor: Int32) {
        self.interface = interface
        self.store = store
        self.program = program
        self.lockDescriptor = lockDescriptor
    }

    deinit { close(lockDescriptor) }

    /// Claims `interface` for `program`: takes the lock (refused while another program
    /// holds it), then puts back what a run that died without restoring left, or removes
    /// a journal that no longer applies.
    public static func acquire(interface: String, store: RestoreJournalStore, program: String)
        throws(RestoreJournalError) -> (claim: InterfaceClaim, recovery: RestoreJournalRecovery?)
    {
        try store.createDirectory(store.interfaceDirectory(interface))
        let lockPath = store.lockPath(for: interface)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: lockPath, operation: "open", errno: Glibc.errno) }
        // A moment's contention (a --dry-run looking at the journal holds the lock for
        // microseconds) is waited out; a claim held for longer is another controller.
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = Glibc.errno
            attempts += 1
            if e == EWOULDBLOCK && attempts < 20 {
                usleep(10_000)
                continue
            }
            close(fd)
            if e == EWOULDBLOCK { throw store.inUse(interface) }
            throw .io(path: lockPath, operation: "lock", errno: e)
        }
        let claim = InterfaceClaim(interface: interface, store: store, program: program, lockDescriptor: fd)
        return (claim, try claim.recoverLeftBehind())
    }

    /// `coalesce-agent --restore-only`: claims the interface just long enough to put back
    /// what a dead run left (nil when there was nothing to do).
    public static func recover(interface: String, store: RestoreJournalStore)
        throws(RestoreJournalError) -> RestoreJournalRecovery?
    {
        try acquire(interface: interface, store: store, program: "coalesce-agent --restore-only").recovery
    }

    /// With the lock held: any journal is a dead run's.
    private func recoverLeftBehind() throws(RestoreJournalError) -> RestoreJournalRecovery? {
        switch try store.judge(interface: interface) {
        case .none, .claimed:
            return nil
        case .stale(_, let reason):
            try store.remove(interface: interface)
            return .discarded(reason: reason)
        case .leftBehind(let j):
            let path = store.path(for: interface)
            let original = try j.originalSetting(path: path)
            let applied = try j.appliedSetting(path: path)
            let decision: RestoreJournalRecovery
            do {
                let actuator = try HostActuator(interface: interface)
                let now = actuator.original
                if now == original {
                    decision = .discarded(reason: "the interface already has the recorded settings (\(j.original))")
                } else if now == applied || j.applying != nil {
                    // Still what the dead run left (or it died mid-change): put the original
                    // back, marked in flight first, so that a restore failing halfway is
                    // finished by the next attempt rather than taken for a newer choice.
                    var inFlight = j
                    inFlight.applying = j.original
                    try store.write(inFlight)
                    try actuator.apply(original)
                    decision = .restored(setting: j.original, program: j.program, pid: j.pid)
                } else {
                    decision = .discarded(reason: "the interface was set again after \(j.program) (pid \(j.pid)) died "
                        + "(it has \(now.specText), the run had left \(j.applied)); that newer choice is kept")
                }
            } catch {
                throw .restoreFailed(path: path, interface: interface, original: j.original, error: "\(error)")
            }
            try store.remove(interface: interface)
            return decision
        }
    }

    /// Writes down `original` (the settings found at start) before the first change, and
    /// from then on keeps the journal naming what `actuator` leaves the device with (and
    /// the device's current ifindex, should the interface be recreated meanwhile).
    public func record(original: LayerSetting, watching actuator: HostActuator) throws(RestoreJournalError) {
        let journal = try RestoreJournal.forCurrentProcess(interface: interface, original: original, program: program)
        try store.write(journal)
        self.journal = journal
        actuator.observer = self
    }

    /// The command that retries a restore this claim's program could not make (it reads
    /// the journal, which a failed restore keeps), for error messages.
    public var restoreOnlyCommand: String {
        "coalesce-agent --restore-only --interface \(interface) --state-dir \(store.directory)"
    }

    /// Removes the journal once the original settings are back (nothing to do when this
    /// claim never recorded one: a journal there would be another run's).
    public func release() throws(RestoreJournalError) {
        guard recorded else { return }
        try store.remove(interface: interface)
        journal = nil
    }

    /// `ApplyObserver`: the journal names the change in flight before it is made.
    public func willApply(_ desired: LayerSetting) throws(HostError) {
        guard var journal else { return }
        journal.applying = desired.specText
        try update(journal)
    }

    /// `ApplyObserver`: the journal names what the device was read back with.
    public func didApply(_ now: LayerSetting) throws(HostError) {
        guard var journal else { return }
        journal.applied = now.specText
        journal.applying = nil
        try update(journal)
    }

    private func update(_ journal: RestoreJournal) throws(HostError) {
        var journal = journal
        // Name the device as it is now: the interface may have been recreated since the
        // last write, and a record for the old ifindex would be dropped as stale.
        if let ifindex = SystemIdentity.ifindex(of: interface) { journal.ifindex = ifindex }
        do { try store.write(journal) } catch {
            throw .restoreJournal(detail: error.description)
        }
        self.journal = journal
    }
}

extension RestoreJournalStore {
    /// The state of `interface`'s journal, without claiming it (what `--dry-run` reports).
    /// Throws when the journal is unreadable or corrupt, or belongs to a same-named
    /// interface of another network namespace.
    public func state(interface: String) throws(RestoreJournalError) -> RestoreJournalState {
        let lockPath = lockPath(for: interface)
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                if Glibc.errno == EWOULDBLOCK { return .claimed(try read(interface: interface)) }
                throw .io(path: lockPath, operation: "lock", errno: Glibc.errno)
            }
        } else if Glibc.errno != ENOENT {
            throw .io(path: lockPath, operation: "read", errno: Glibc.errno)
        }
        return try judge(interface: interface)
    }

    /// The journal's state given that nobody holds the claim.
    func judge(interface: String) throws(RestoreJournalError) -> RestoreJournalState {
        guard let journal = try read(interface: interface) else { return .none }
        let here = try SystemIdentity.current()
        if journal.bootID != here.bootID {
            return .stale(journal, reason: "written before the last reboot")
        }
        if journal.netns != here.netns {
            throw .otherNamespace(path: path(for: interface), interface: interface, netns: journal.netns)
        }
        guard let ifindex = SystemIdentity.ifindex(of: interface) else {
            return .stale(journal, reason: "the interface no longer exists")
        }
        if ifindex != journal.ifindex {
            return .stale(journal, reason: "the interface was deleted and recreated since (ifindex \(journal.ifindex) → \(ifindex)); the record was for the old device")
        }
        return .leftBehind(journal)
    }

    /// The refusal for a claim another program holds, naming it when its journal does
    /// (a journal whose pid is gone is a dead run's, which the holder will recover).
    func inUse(_ interface: String) -> RestoreJournalError {
        var holder: String?
        if let journal = try? read(interface: interface), kill(journal.pid, 0) == 0 || Glibc.errno == EPERM {
            holder = "\(journal.program) (pid \(journal.pid))"
        }
        return .inUse(path: lockPath(for: interface), interface: interface, holder: holder)
    }
}
