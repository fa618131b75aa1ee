public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reading a child's pipes without Foundation's `FileHandle.readDataToEndOfFile`/`availableData`, which
/// crash (`try!` inside Foundation) when a read is interrupted by a signal: with many test processes
/// starting and ending at once, SIGCHLD interrupts reads.
public enum PipeReader {
    /// Everything until end of file.
    public static func readAll(_ handle: FileHandle) -> Data {
        var data = Data()
        while true {
            let chunk = readSome(handle)
            if chunk.isEmpty { return data }
            data.append(chunk)
        }
    }

    /// What is there (blocking until something is), or empty at end of file.
    public static func readSome(_ handle: FileHandle) -> Data {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(handle.fileDescriptor, &buffer, buffer.count)
            if n > 0 { return Data(buffer[0..<n]) }
            if n < 0 && errno == EINTR { continue }
            return Data()
        }
    }

    /// Both pipes read at once (so neither fills while the other is read), each to its end.
    public static func readBoth(_ out: FileHandle, _ err: FileHandle) -> (Data, Data) {
        final class Box: @unchecked Sendable { var data = Data() }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.data = readAll(err)
            done.signal()
        }
        let o = readAll(out)
        done.wait()
        return (o, box.data)
    }
}
