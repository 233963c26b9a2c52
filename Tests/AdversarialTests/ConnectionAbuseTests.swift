import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Slow clients and connection floods: honest terminals are still served, and the abusers' connections
/// are dropped by the connection timeout and the per-address limit.
final class ConnectionAbuseTests: XCTestCase {
    var service: Cashierd?

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func plainURL(_ s: Cashierd) throws -> String {
        guard let url = s.urls.first(where: { $0.hasPrefix("http://") }) else { throw RuntimeError("no plain listener in \(s.urls)") }
        return url
    }

    /// Times a signed ping; fails the test when it does not answer.
    private func timedPing(_ s: Cashierd, _ c: DeviceCredentials) -> Double {
        let started = Date()
        do {
            _ = try s.transport(timeoutMs: 5_000).call("GET", API.Path.ping, credentials: c).decoded(PingResponse.self).get()
        } catch {
            XCTFail("ping failed under attack: \(error)")
        }
        return Date().timeIntervalSince(started)
    }

    /// Slowloris: connections that dribble request headers a byte at a time, on the plain HTTP port and on
    /// the TLS port (a dribbled handshake). Signed requests are answered promptly all along; once the
    /// dribbling stops, every slow connection is closed by the connection timeout.
    func testSlowlorisDoesNotStarveTerminalsAndIsDroppedByTheTimeout() throws {
        let s = try Cashierd(groups: 1, plain: ["127.0.0.1:0"], tweak: { $0.limits.connectionTimeoutSeconds = 2 })
        service = s
        let c = try s.activateTerminal()
        let (plainHost, plainPort) = hostPort(try plainURL(s))
        let (tlsHost, tlsPort) = hostPort(s.urls[0])

        let header = Array("POST /v1/orders HTTP/1.1\r\nHost: cashier\r\nContent-Length: 10\r\nX-Padding: ".utf8)
        let plain = (0..<16).compactMap { _ in TCPSocket(host: plainHost, port: plainPort) }
        // The first bytes of a TLS record header (handshake, TLS 1.0 record version), then a dribble.
        let tlsPrefix: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
        let tls = (0..<8).compactMap { _ in TCPSocket(host: tlsHost, port: tlsPort) }
        XCTAssertEqual(plain.count, 16)
        XCTAssertEqual(tls.count, 8)

        // Dribble one byte per connection every 0.4 s for about 4 s (longer than the 2 s timeout),
        // pinging between rounds.
        var slowestPing = 0.0
        for round in 0..<10 {
            for socket in plain { socket.send([header[round % header.count]]) }
            for socket in tls { socket.send([tlsPrefix[min(round, tlsPrefix.count - 1)]]) }
            if round % 3 == 0 { slowestPing = max(slowestPing, timedPing(s, c)) }
            Thread.sleep(forTimeInterval: 0.4)
        }
        XCTAssertLessThan(slowestPing, 2.0, "signed requests were held up by slow clients")

        // Now the slow clients stall: the 2 s idle timeout must close every one of them.
        let started = Date()
        let plainClosed = plain.filter { $0.closedByPeer(within: max(0.1, 6 - Date().timeIntervalSince(started))) }.count
        let tlsClosed = tls.filter { $0.closedByPeer(within: max(0.1, 6 - Date().timeIntervalSince(started))) }.count
        XCTAssertEqual(plainClosed, plain.count, "stalled HTTP connections left open")
        XCTAssertEqual(tlsClosed, tls.count, "stalled TLS handshakes left open")
        XCTAssertLessThan(timedPing(s, c), 2.0)
        XCTAssertTrue(s.child!.process.isRunning)
    }

    /// A flood of idle connections from one address beyond `perIpConnectionLimit`: the surplus is closed
    /// at once, the held ones time out, and the port serves again afterwards.
    func testConnectionFloodBeyondThePerAddressLimitIsCut() throws {
        let s = try Cashierd(groups: 1, plain: ["127.0.0.1:0"], tweak: {
            $0.limits.perIpConnectionLimit = 4
            $0.limits.connectionTimeoutSeconds = 3
        })
        service = s
        let c = try s.activateTerminal()
        let (host, port) = hostPort(try plainURL(s))
        let flood = (0..<24).compactMap { _ in TCPSocket(host: host, port: port) }
        let closed = flood.map { $0.closedByPeer(within: 0.3) }
        let cut = closed.filter { $0 }.count
        XCTAssertGreaterThanOrEqual(cut, 20, "connections beyond the limit of 4 were kept")
        // Terminals on the TLS addresses are not affected while the flood holds its 4 connections.
        XCTAssertLessThan(timedPing(s, c), 2.0)
        // The held ones are idle and get dropped by the timeout; then the port answers again.
        let held = zip(flood, closed).filter { !$0.1 }.map(\.0)
        XCTAssertLessThanOrEqual(held.count, 4)
        XCTAssertTrue(held.allSatisfy { $0.closedByPeer(within: 6) }, "idle connections outlived the timeout")
        guard let probe = TCPSocket(host: host, port: port) else { return XCTFail("plain port refuses connections") }
        probe.send(Array("GET /healthz HTTP/1.1\r\nHost: cashier\r\nConnection: close\r\n\r\n".utf8))
        XCTAssertTrue(probe.readAll(seconds: 5).hasPrefix("HTTP/1.1 200"), "the port did not recover after the flood")
        assertServiceIntact(s, c)
    }

    // MARK: - Idle connection floods

    /// Idle keep-alive connections in the regular run; `CASHIER_CONNECTION_FLOOD=10000` runs the large one.
    static let idleConnections = 2_000

    /// Opens `count` keep-alive connections to cashierd's plain listener, each served once and then left
    /// idle, and checks terminals on the TLS listener and new connections on the flooded one are answered
    /// promptly all along, and that every idle connection still answers afterwards.
    private func holdIdleConnections(_ count: Int) throws {
        let limit = raiseOpenFileLimit()
        guard limit > count + 500 else { throw XCTSkip("open-file limit \(limit) is too low for \(count) connections") }
        let s = try Cashierd(groups: 1, listen: ["127.0.0.1:0"], plain: ["127.0.0.1:0"], tweak: {
            $0.limits.connectionTimeoutSeconds = 300
        })
        service = s
        let c = try s.activateTerminal()
        let (host, port) = hostPort(try plainURL(s))
        let request = Array("GET /healthz HTTP/1.1\r\nHost: cashier\r\n\r\n".utf8)
        let started = Date()
        var held: [TCPSocket] = []
        var slowestPing = 0.0
        for i in 0..<count {
            guard let socket = TCPSocket(host: host, port: port) else { break }
            socket.send(request)
            held.append(socket)
            if i % 500 == 499 { slowestPing = max(slowestPing, timedPing(s, c)) }
        }
        XCTAssertEqual(held.count, count, "connections were refused")
        let served = held.filter { $0.readResponse(seconds: 10)?.hasPrefix("HTTP/1.1 200") == true }.count
        let opened = Date().timeIntervalSince(started)
        XCTAssertEqual(served, count, "not every connection was served")

        // All of them idle now: terminals on the other listener, and a new connection on this one, are served.
        slowestPing = max(slowestPing, timedPing(s, c))
        XCTAssertLessThan(slowestPing, 2.0, "signed requests were held up by the idle connections")
        guard let fresh = TCPSocket(host: host, port: port) else { return XCTFail("the flooded listener refuses connections") }
        let asked = Date()
        fresh.send(request)
        XCTAssertEqual(fresh.readResponse(seconds: 5)?.hasPrefix("HTTP/1.1 200"), true)
        let freshSeconds = Date().timeIntervalSince(asked)
        XCTAssertLessThan(freshSeconds, 2.0)
        let pid = s.child!.process.processIdentifier
        let rss = processStatus(pid, "VmRSS") ?? -1, threads = processStatus(pid, "Threads") ?? -1

        // None was dropped: each answers a second request on the same connection.
        for socket in held { socket.send(request) }
        let again = held.filter { $0.readResponse(seconds: 10)?.hasPrefix("HTTP/1.1 200") == true }.count
        XCTAssertEqual(again, count, "idle connections were dropped")
        print("connection flood: \(count) idle keep-alive connections held on one listener (opened and served in " +
              "\(String(format: "%.1f", opened)) s); slowest signed ping on the other \(String(format: "%.3f", slowestPing)) s; " +
              "a new connection answered in \(String(format: "%.3f", freshSeconds)) s; cashierd \(rss / 1024) MiB RSS, \(threads) threads; " +
              "\(again) answered again")
        assertServiceIntact(s, c)
    }

    func testIdleKeepAliveConnectionsOnOneListenerLeaveTheOtherServing() throws {
        try holdIdleConnections(Self.idleConnections)
    }

    /// The capacity check behind `CASHIER_CONNECTION_FLOOD=<count>` (10000 for the documented figure).
    func testConnectionFloodBenchmark() throws {
        guard let text = ProcessInfo.processInfo.environment["CASHIER_CONNECTION_FLOOD"], let count = Int(text), count > 0 else {
            throw XCTSkip("set CASHIER_CONNECTION_FLOOD=10000 to run")
        }
        try holdIdleConnections(min(count, 50_000))
    }

    // MARK: - HTTP answers

    /// 405 names what the path takes (RFC 9110 §15.5.6).
    func testMethodNotAllowedSaysWhichMethodsAre() throws {
        let s = try Cashierd(groups: 1, plain: ["127.0.0.1:0"])
        service = s
        let (host, port) = hostPort(try plainURL(s))
        for (method, path, allow) in [("DELETE", "/healthz", "GET"), ("PUT", "/v1/orders", "GET, POST"),
                                      ("GET", "/v1/orders/26112509464000700042137/pay", "POST"),
                                      ("POST", "/v1/orders/26112509464000700042137", "GET")] {
            guard let socket = TCPSocket(host: host, port: port) else { return XCTFail("no connection") }
            socket.send(Array("\(method) \(path) HTTP/1.1\r\nHost: cashier\r\nContent-Length: 0\r\n\r\n".utf8))
            let answer = socket.readResponse(seconds: 5) ?? ""
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 405"), answer)
            XCTAssertTrue(answer.contains("\r\nAllow: \(allow)\r\n"), "\(method) \(path): \(answer)")
            XCTAssertTrue(answer.contains("\"METHOD_NOT_ALLOWED\""), answer)
        }
    }

    /// The signature covers the path exactly as sent: a request signed over `/v1/ping` but sent as
    /// `/v1/p%69ng` (the same path once decoded) is refused, and one signed over what was sent is not.
    func testASignatureOverAnotherSpellingOfThePathIsRefused() throws {
        let s = try Cashierd(groups: 1, plain: ["127.0.0.1:0"])
        service = s
        let c = try s.activateTerminal()
        let (host, port) = hostPort(try plainURL(s))
        func send(signedOver signed: String, sentAs sent: String) -> String {
            let headers = Attacker.headers(c, method: "GET", path: signed)
            let lines = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
            guard let socket = TCPSocket(host: host, port: port) else { return "no connection" }
            socket.send(Array("GET \(sent) HTTP/1.1\r\nHost: cashier\r\n\(lines)\r\n".utf8))
            return socket.readResponse(seconds: 5) ?? "no answer"
        }
        let variant = send(signedOver: API.Path.ping, sentAs: "/v1/p%69ng")
        XCTAssertTrue(variant.hasPrefix("HTTP/1.1 401"), variant)
        XCTAssertTrue(variant.contains("\"SIGNATURE_INVALID\""), variant)
        let encodedSlash = send(signedOver: API.Path.ping, sentAs: "/v1%2Fping")
        XCTAssertFalse(encodedSlash.hasPrefix("HTTP/1.1 200"), encodedSlash)
        XCTAssertTrue(send(signedOver: "/v1/p%69ng", sentAs: "/v1/p%69ng").hasPrefix("HTTP/1.1 200"))
        XCTAssertTrue(send(signedOver: API.Path.ping, sentAs: API.Path.ping).hasPrefix("HTTP/1.1 200"))
    }

    /// What the HTTP layer refuses by itself speaks the service's catalogue, byte for byte the body the
    /// service writes for the same error.
    func testTheHTTPLayersRefusalsAreInTheErrorCatalogue() throws {
        for refusal in HTTPRefusal.allCases {
            guard let code = ErrorCode(rawValue: refusal.code) else {
                XCTFail("\(refusal.code) is not in ErrorCode"); continue
            }
            XCTAssertEqual(code.httpStatus, refusal.status, refusal.code)
            XCTAssertEqual(code.message, refusal.message, refusal.code)
            XCTAssertEqual(code.isRetryable, refusal.retryable, refusal.code)
        }
        let s = try Cashierd(groups: 1, plain: ["127.0.0.1:0"])
        service = s
        let (host, port) = hostPort(try plainURL(s))
        for (request, code) in [("THIS IS NOT HTTP\r\n\r\n", ErrorCode.httpMalformed),
                                ("GET /healthz HTTP/3.0\r\nHost: cashier\r\n\r\n", .httpVersionNotSupported),
                                ("POST /v1/orders HTTP/1.1\r\nHost: cashier\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", .httpMalformed)] {
            guard let socket = TCPSocket(host: host, port: port) else { return XCTFail("no connection") }
            socket.send(Array(request.utf8))
            let answer = socket.readAll(seconds: 5)
            guard let split = answer.range(of: "\r\n\r\n") else { XCTFail("no answer: \(answer)"); continue }
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 \(code.httpStatus)"), answer)
            XCTAssertTrue(answer.contains("Content-Type: application/json"), answer)
            let body = Array(answer[split.upperBound...].utf8)
            guard let envelope = try? API.decode(ErrorEnvelope.self, from: body) else { XCTFail("not an error body: \(answer)"); continue }
            XCTAssertEqual(envelope.error.code, code)
            XCTAssertEqual(body, API.encode(ErrorEnvelope(error: APIError(code, detail: envelope.error.detail))))
        }
    }
}
