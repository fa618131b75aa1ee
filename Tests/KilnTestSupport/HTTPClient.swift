public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain HTTP/1.1 client on a blocking loopback socket: keep-alive, Content-Length bodies, and raw bytes
/// when a test needs to misbehave (a slow client, a lying header). No library in between, so what the
/// tests see is what the server sent.
public final class HTTPConnection {
    public struct Response {
        public var status: Int
        /// Lower-cased names.
        public var headers: [String: String]
        public var body: Data

        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    }

    public struct Closed: Error {}

    private let socket: Int32
    private var pending = Data()

    public init(port: Int, timeout: Double = 30) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Closed() }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw Closed()
        }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(socket) }

    /// Sends bytes as they are.
    public func send(_ bytes: Data) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(socket, raw.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw Closed() }
            offset += n
        }
    }

    public func send(_ text: String) throws { try send(Data(text.utf8)) }

    /// One request and its response.
    public func request(
        _ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]
    ) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body {
            if headers["Content-Type"] == nil { head += "Content-Type: application/json\r\n" }
            head += "Content-Length: \(body.count)\r\n"
        }
        try send(Data((head + "\r\n").utf8) + (body ?? Data()))
        return try readResponse()
    }

    public func post(_ path: String, json: String, headers: [String: String] = [:]) throws -> Response {
        try request("POST", path, body: Data(json.utf8), headers: headers)
    }

    /// Reads one response (Content-Length or chunked body).
    public func readResponse() throws -> Response {
        let separator = Data("\r\n\r\n".utf8)
        while pending.range(of: separator) == nil { try fill() }
        guard let end = pending.range(of: separator) else { throw Closed() }
        let headText = String(decoding: pending[pending.startIndex..<end.lowerBound], as: UTF8.self)
        pending.removeSubrange(pending.startIndex..<end.upperBound)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Closed() }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = Data()
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            while pending.count < length { try fill() }
            body = pending.prefix(length)
            pending.removeFirst(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                while pending.range(of: Data("\r\n".utf8)) == nil { try fill() }
                guard let lineEnd = pending.range(of: Data("\r\n".utf8)) else { throw Closed() }
                let size =
                    Int(String(decoding: pending[pending.startIndex..<lineEnd.lowerBound], as: UTF8.self), radix: 16)
                    ?? 0
                pending.removeSubrange(pending.startIndex..<lineEnd.upperBound)
                while pending.count < size + 2 { try fill() }
                body.append(pending.prefix(size))
                pending.removeFirst(size + 2)
                if size == 0 { break }
            }
        }
        return Response(status: status, headers: headers, body: Data(body))
    }

    /// True when the server closed the connection (read returns end of file) within the socket's timeout.
    public func closedByServer() -> Bool {
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, 0) == 0
    }

    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(socket, &buffer, buffer.count, 0)
        guard n > 0 else { throw Closed() }
        pending.append(contentsOf: buffer[0..<n])
    }
}
