import Dispatch
import Glibc

/// Runs code inside a named network namespace (`ip netns add NAME`), the way
/// `ip netns exec` does, but in-process on a dedicated thread: the thread joins the
/// namespace with setns(2), gets a private mount namespace, and mounts a fresh sysfs
/// on /sys so that `/sys/class/net` lists the namespace's interfaces. The rest of the
/// process is unaffected, and the thread's namespaces go away when it ends.
public enum NetworkNamespace {
    typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
    typealias UnshareFunction = @convention(c) (Int32) -> Int32
    // setns/unshare are _GNU_SOURCE declarations the Swift Glibc module does not import.
    static let setnsCall: SetnsFunction? = dlsym(nil, "setns").map { unsafeBitCast($0, to: SetnsFunction.self) }
    static let unshareCall: UnshareFunction? = dlsym(nil, "unshare").map { unsafeBitCast($0, to: UnshareFunction.self) }
    static let CLONE_NEWNS: Int32 = 0x0002_0000
    static let CLONE_NEWNET: Int32 = 0x4000_0000

    /// Runs `body` on a new thread inside network namespace `name` (from /run/netns) and
    /// returns its result; blocks the caller until it finishes.
    public static func run<T: Sendable>(_ name: String, remountSysfs: Bool = true,
                                        _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 4 << 20)
        let context = Unmanaged.passRetained(ThreadContext {
            do {
                try enter(name, remountSysfs: remountSysfs)
                box.result = .success(try body())
            } catch {
                box.result = .failure(ErrorBox(error))
            }
            done.signal()
        }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
            context.body()
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            Unmanaged<ThreadContext>.fromOpaque(context).release()
            throw HostError.namespace(name: name, operation: "pthread_create", errno: rc)
        }
        done.wait()
        pthread_join(thread, nil)
        switch box.result! {
        case .success(let value): return value
        case .failure(let boxed): throw boxed.error
        }
    }

    /// Moves the calling thread into the namespace (and, with `remountSysfs`, into a
    /// private mount namespace with the namespace's sysfs on /sys).
    static func enter(_ name: String, remountSysfs: Bool) throws(HostError) {
        guard let setnsCall, let unshareCall else { throw .namespace(name: name, operation: "dlsym(setns)", errno: ENOSYS) }
        let fd = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .namespace(name: name, operation: "open /run/netns/\(name)", errno: errno) }
        defer { close(fd) }
        if remountSysfs {
            if unshareCall(CLONE_NEWNS) != 0 { throw .namespace(name: name, operation: "unshare(CLONE_NEWNS)", errno: errno) }
            // Keep our mounts from propagating back to the host's mount namespace.
            if mount("none", "/", nil, UInt(MS_REC | MS_SLAVE), nil) != 0 {
                throw .namespace(name: name, operation: "mount --make-rslave /", errno: errno)
            }
        }
        if setnsCall(fd, CLONE_NEWNET) != 0 { throw .namespace(name: name, operation: "setns(CLONE_NEWNET)", errno: errno) }
        if remountSysfs {
            _ = umount2("/sys", Int32(MNT_DETACH))
            if mount(name, "/sys", "sysfs", 0, nil) != 0 {
                throw .namespace(name: name, operation: "mount sysfs on /sys", errno: errno)
            }
        }
    }

    private final class ThreadContext {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, ErrorBox>?
    }

    private struct ErrorBox: Error, @unchecked Sendable {
        let error: any Error
        init(_ error: any Error) { self.error = error }
    }
}
