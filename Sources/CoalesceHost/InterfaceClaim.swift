import CoalesceCore

/// Where an interface's restore journal stands, checked against this boot, network
/// namespace, the running processes and the interface itself.
public enum RestoreJournalState: Equatable, Sendable {
    /// No journal: nobody changed the interface, or everybody restored it.
    case none
    /// The process that wrote it is still running: it controls the interface.
    case claimed(RestoreJournal)
    /// Its process is gone without restoring: the recorded settings are to be put back.
    case leftBehind(RestoreJournal)
    /// It no longer applies (another boot, or the interface is gone or was recreated
    /// with its driver's defaults): nothing to put back.
    case stale(RestoreJournal, reason: String)
}

extension RestoreJournalStore {
    /// The state of `interface`'s journal. Throws when the file is unreadable or corrupt,
    /// or belongs to a same-named interface of another network namespace.
    public func state(interface: String) throws(RestoreJournalError) -> RestoreJournalState {
        guard let journal = try read(interface: interface) else { return .none }
        let here = try SystemIdentity.current()
        if journal.bootID != here.bootID {
            return .stale(journal, reason: "written before the last reboot")
        }
        if journal.netns != here.netns {
            throw .otherNamespace(path: path(for: interface), interface: interface, netns: journal.netns)
        }
        if journal.ownerIsAlive { return .claimed(journal) }
        guard let ifindex = SystemIdentity.ifindex(of: interface) else {
            return .stale(journal, reason: "the interface no longer exists")
        }
        if ifindex != journal.ifindex {
            return .stale(journal, reason: "the interface was recreated (ifindex \(journal.ifindex) → \(ifindex)) with its driver's defaults")
        }
        return .leftBehind(journal)
    }
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

/// A program's claim on an interface's coalescing, backed by its restore journal.
///
/// The order that keeps every interface restorable: `acquire` before reading the
/// settings to restore later (it first puts back what an earlier run left, so that
/// those are the operator's, not a dead run's), `record` before the first change,
/// `release` after the settings are back. `acquire` also refuses while another
/// running program holds the interface.
public struct InterfaceClaim: Sendable {
    /// The interface.
    public let interface: String
    /// Where its journal lives.
    public let store: RestoreJournalStore
    /// The claiming program, for the record and messages.
    public let program: String

    /// Claims `interface` for `program`.
    public static func acquire(interface: String, store: RestoreJournalStore, program: String)
        throws(RestoreJournalError) -> (claim: InterfaceClaim, recovery: RestoreJournalRecovery?)
    {
        let claim = InterfaceClaim(interface: interface, store: store, program: program)
        return (claim, try recover(interface: interface, store: store))
    }

    /// Puts back what a run that exited without restoring left on `interface` and
    /// removes its journal; removes a stale one; refuses when the journal's program is
    /// still running. nil when there was nothing to do. What `coalesce-agent
    /// --restore-only` runs.
    public static func recover(interface: String, store: RestoreJournalStore)
        throws(RestoreJournalError) -> RestoreJournalRecovery?
    {
        switch try store.state(interface: interface) {
        case .none:
            return nil
        case .claimed(let j):
            throw .inUse(path: store.path(for: interface), interface: interface, pid: j.pid, program: j.program)
        case .stale(_, let reason):
            try store.remove(interface: interface)
            return .discarded(reason: reason)
        case .leftBehind(let j):
            let path = store.path(for: interface)
            let setting = try j.originalSetting(path: path)
            do {
                let actuator = try HostActuator(interface: interface)
                try actuator.apply(setting)
            } catch {
                throw .restoreFailed(path: path, interface: interface, original: j.original, error: "\(error)")
            }
            try store.remove(interface: interface)
            return .restored(setting: j.original, program: j.program, pid: j.pid)
        }
    }

    /// Writes down `original` (the settings found at start) before the first change.
    /// Refused when another program recorded a claim since `acquire`.
    public func record(original: LayerSetting) throws(RestoreJournalError) {
        let journal = try RestoreJournal.forCurrentProcess(interface: interface, original: original, program: program)
        try store.write(journal, exclusive: true)
    }

    /// Removes the journal once the original settings are back.
    public func release() throws(RestoreJournalError) {
        try store.remove(interface: interface)
    }
}
