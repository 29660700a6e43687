import ArgumentParser
import CoalesceLearn

extension ParsableCommand {
    /// Re-executes the process with `OPENBLAS_CORETYPE` set when OpenBLAS picked a generic
    /// kernel on a CPU that has better ones (`BLAS.reexecWithMatchingKernelIfNeeded`).
    /// Re-executing is only safe before any work, so only when this command is the
    /// process's own command (not when `demo` runs it as a step).
    static func reexecForBLASKernelIfTopLevel() {
        if CommandLine.arguments.dropFirst().first == configuration.commandName {
            BLAS.reexecWithMatchingKernelIfNeeded()
        }
    }
}
