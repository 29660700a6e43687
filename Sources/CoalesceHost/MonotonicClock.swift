import Glibc

/// CLOCK_MONOTONIC in nanoseconds, and absolute sleeps on it (no drift: a sleep to a
/// deadline does not accumulate the time spent working between sleeps).
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point (boot), never going backwards.
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps until CLOCK_MONOTONIC reaches `deadlineNs` (returns at once if it has).
    public static func sleep(until deadlineNs: UInt64) {
        var ts = timespec(deadlineNs)
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

extension timespec {
    init(_ ns: UInt64) {
        self.init(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    }
}

/// `ppoll(2)`: `poll` with a nanosecond timeout. The Swift Glibc module does not
/// import it (it is a _GNU_SOURCE declaration), so it is looked up once with dlsym.
enum PrecisePoll {
    typealias Function = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, UnsafePointer<timespec>?, UnsafeRawPointer?) -> Int32
    static let function: Function? = dlsym(nil, "ppoll").map { unsafeBitCast($0, to: Function.self) }

    /// Waits up to `timeoutNs` for `events` on `fd`; returns the revents (0 on timeout).
    static func wait(fd: Int32, events: Int16, timeoutNs: UInt64) -> Int16 {
        var p = pollfd(fd: fd, events: events, revents: 0)
        if let function {
            var ts = timespec(timeoutNs)
            let r = function(&p, 1, &ts, nil)
            return r > 0 ? p.revents : 0
        }
        let r = poll(&p, 1, Int32(min(timeoutNs / 1_000_000, UInt64(Int32.max))))
        return r > 0 ? p.revents : 0
    }
}
