import Foundation
import HTTPServer
import XCTest

/// Defences that curl alone cannot exercise: idle timeouts, per-IP limits, malformed requests.
final class LimitsTests: XCTestCase {
    func testIdleHalfSentRequestIsClosedAfterTimeout() throws {
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.connectionTimeoutSeconds = 1
        let server = try HTTPServer(configuration: configuration, handler: describe)
        defer { server.stop() }
        let socket = try RawSocket(port: server.boundAddresses[0].port, receiveTimeout: 8)
        socket.send("GET /slow HTTP/1.1\r\nHost: x\r\n")
        let started = Date()
        let (text, closed) = socket.readAll()
        XCTAssertTrue(closed, "the server kept a half-sent request open")
        XCTAssertFalse(text.contains("path=/slow"), text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testPerIPConnectionLimit() throws {
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.perIPConnectionLimit = 2
        let server = try HTTPServer(configuration: configuration, handler: describe)
        defer { server.stop() }
        let port = server.boundAddresses[0].port
        let held = try [RawSocket(port: port), RawSocket(port: port)]
        usleep(200_000)
        let refused = try runCurl(["http://127.0.0.1:\(port)/third"])
        XCTAssertNotEqual(refused.exitCode, 0, "a third connection from one IP was served")
        XCTAssertFalse(refused.stdout.contains("path=/third"))
        held.forEach { $0.send("GET /free HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
        XCTAssertTrue(held[0].readAll().text.contains("path=/free"))
    }

    func testMalformedRequestIsAnsweredByTheServerNotTheHandler() throws {
        let gauge = Gauge()
        let server = try plainServer { request in
            gauge.enter()
            gauge.leave()
            return describe(request)
        }
        defer { server.stop() }
        let socket = try RawSocket(port: server.boundAddresses[0].port)
        socket.send("THIS IS NOT HTTP\r\n\r\n")
        let (text, _) = socket.readAll()
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400"), text)
        XCTAssertEqual(gauge.snapshot.total, 0)
        // The server is still healthy afterwards.
        let result = try runCurl(["\(baseURL(server))/after"])
        XCTAssertTrue(result.stdout.contains("path=/after"), result.stdout)
    }

    func testInvalidResponseHeaderIsDroppedNotSent() throws {
        let server = try plainServer { _ in
            HTTPResponse(status: 201, headers: [("X-Good", "yes"), ("X-Bad", "a\r\nInjected: 1"), ("Bad Name", "x")],
                         body: Array("ok".utf8))
        }
        defer { server.stop() }
        let result = try runCurl(["-D", "-", "\(baseURL(server))/"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("HTTP/1.1 201"), result.stdout)
        XCTAssertTrue(result.stdout.contains("X-Good: yes"), result.stdout)
        XCTAssertFalse(result.stdout.contains("Injected"), result.stdout)
        XCTAssertFalse(result.stdout.contains("Bad Name"), result.stdout)
        XCTAssertTrue(result.stdout.hasSuffix("\r\n\r\nok"), result.stdout)
    }

    func testTwoListenAddressesShareOneHandler() throws {
        let configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false),
                                                             ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        let server = try HTTPServer(configuration: configuration, handler: describe)
        defer { server.stop() }
        XCTAssertEqual(server.boundAddresses.count, 2)
        XCTAssertNotEqual(server.boundAddresses[0].port, server.boundAddresses[1].port)
        for address in server.boundAddresses {
            let result = try runCurl(["http://127.0.0.1:\(address.port)/p\(address.port)"])
            XCTAssertTrue(result.stdout.contains("path=/p\(address.port)\n"), result.stdout)
        }
    }
}
