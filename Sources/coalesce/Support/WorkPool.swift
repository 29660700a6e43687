import Dispatch
import Synchronization

/// Runs independent jobs on a few threads: each worker pulls the next job index
/// until none are left; the first error stops the rest and is rethrown.
enum WorkPool {
    static func run(
        _ count: Int, threads: Int, progress: (@Sendable (Int, Int) -> Void)? = nil,
        _ body: @escaping @Sendable (Int) throws -> Void
    ) throws {
        let next = Atomic<Int>(0), done = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= count || failure.withLock({ $0 != nil }) { return }
                do { try body(i) } catch {
                    failure.withLock { $0 = $0 ?? "\(error)" }
                    return
                }
                progress?(done.add(1, ordering: .relaxed).newValue, count)
            }
        }
        if let f = failure.withLock({ $0 }) { throw LabError.invalidOption(f) }
    }
}
