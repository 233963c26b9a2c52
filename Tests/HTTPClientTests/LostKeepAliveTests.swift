import Foundation
import XCTest
@testable import HTTPClient
#if canImport(Glibc)
import Glibc
#endif

/// A plain-HTTP server on 127.0.0.1 that answers the first request of a connection, reads the second in
/// full, then resets the connection without answering and stops listening: the front door of the
/// double charge found by fault injection (the pay was processed, its answer lost, reconnecting refused).
private final class ResettingServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    /// Bytes of the second request as read, for the test to check it really arrived.
    private(set) var secondRequest = ""
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw TestServerError("bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    func waitUntilDone() -> Bool { done.wait(timeout: .now() + 10) == .success }

    private func serve() {
        defer { done.signal() }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let conn = accept(listener, nil, nil)
        guard conn >= 0 else { return }
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard readRequest(conn) != nil else { close(conn); return }
        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
        _ = answer.withCString { send(conn, $0, strlen($0), 0) }
        secondRequest = readRequest(conn) ?? ""
        // Refuse new connections from now on, then reset this one without a byte of answer.
        close(listener)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(conn, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(conn)
    }

    /// Reads one request with a Content-Length body (bounded); nil if the connection ended first.
    private func readRequest(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<100 {
            let text = String(decoding: data, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length { return text }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            data += buffer[0..<n]
        }
        return nil
    }
}

final class LostKeepAliveTests: XCTestCase {
    /// The second request rides the kept-alive connection, which dies after the server read it; curl
    /// tries a fresh connection, which is refused. That must not read as "could not connect" (surely not
    /// sent): the request did arrive, so a pay must be treated as "unknown: query", never signed again
    /// and sent to the other domain.
    func testARequestLostOnADeadKeptAliveConnectionMayHaveArrived() throws {
        let server = try ResettingServer()
        let c = try CurlConnection(configuration: HTTPClientConfiguration(
            caFile: "/nonexistent-ca.pem", connectTimeoutMs: 1_000, totalTimeoutMs: 5_000, resolve: []))
        let url = "http://127.0.0.1:\(server.port)/v1/orders/1/pay"
        XCTAssertEqual(try c.perform(method: "POST", url: url, body: Array("{}".utf8)).get().status, 200)
        let second = c.perform(method: "POST", url: url, body: Array("{\"payment_code\":\"1\"}".utf8))
        XCTAssertTrue(server.waitUntilDone())
        XCTAssertTrue(server.secondRequest.contains("payment_code"), "the second request reached the server")
        guard case .failure(let failure) = second else { return XCTFail("no answer was sent, got \(second)") }
        if case .couldNotConnect = failure {
            XCTFail("a request that reached the server was reported as surely not sent: \(failure)")
        }
        if case .timedOut(afterConnect: false) = failure {
            XCTFail("a request that reached the server was reported as surely not sent: \(failure)")
        }
    }

    /// A first request to a closed port is still "could not connect": nothing could have been sent.
    func testAFirstRequestToAClosedPortStillCouldNotConnect() throws {
        let listener = try SilentListener()
        let port = listener.port
        listener.stop()
        let c = try CurlConnection(configuration: HTTPClientConfiguration(
            caFile: "/nonexistent-ca.pem", connectTimeoutMs: 1_000, totalTimeoutMs: 5_000, resolve: []))
        let r = c.perform(method: "POST", url: "http://127.0.0.1:\(port)/", body: [1])
        guard case .failure(.couldNotConnect) = r else { return XCTFail("expected couldNotConnect, got \(r)") }
    }
}
