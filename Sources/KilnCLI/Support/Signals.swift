import ArgumentParser
import Dispatch
import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import Synchronization

/// Ctrl-C and SIGTERM, counted: the handler gets 1 for the first signal, 2 for the next.
final class SignalHandler {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        let count = Mutex(0)
        let queue = DispatchQueue(label: "kiln.signals")
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                let n = count.withLock { c -> Int in
                    c += 1
                    return c
                }
                handler(n)
            }
            source.resume()
            return source
        }
    }

    func stop() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// Runs async work from synchronous code (the command's `run`), blocking the calling thread.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let value = await work()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        guard let value = box.withLock({ $0 }) else { fatalError("unreachable: the task always sets its value") }
        return value
    }
}
