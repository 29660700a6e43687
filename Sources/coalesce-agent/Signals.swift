import Atomics
#if canImport(Glibc)
import Glibc
#endif

/// Flags set from signal handlers: stop (SIGTERM, SIGINT) and reload (SIGHUP).
/// Lock-free atomics are async-signal-safe; the handlers do nothing else.
enum SignalFlags {
    static let stop = UnsafeAtomic<Int>.create(0)
    static let reload = UnsafeAtomic<Int>.create(0)

    /// Installs the handlers (without SA_RESTART, so a sleeping agent wakes up at once).
    static func install() {
        func handle(_ sig: Int32, _ handler: @convention(c) (Int32) -> Void) {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
        // A parent may have started us with these signals blocked (the mask is inherited
        // across exec): unblock them, or SIGTERM would never reach the handler.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&unblock, sig) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        handle(SIGTERM) { sig in SignalFlags.stop.store(Int(sig), ordering: .relaxed) }
        handle(SIGINT) { sig in SignalFlags.stop.store(Int(sig), ordering: .relaxed) }
        handle(SIGHUP) { _ in SignalFlags.reload.store(1, ordering: .relaxed) }
        // A closed log pipe must fail a write (EPIPE), not end the agent before it restores.
        Glibc.signal(SIGPIPE, SIG_IGN)
    }

    static var stopRequested: Bool { stop.load(ordering: .relaxed) != 0 }

    /// True once per SIGHUP.
    static func takeReload() -> Bool { reload.exchange(0, ordering: .relaxed) != 0 }
}
