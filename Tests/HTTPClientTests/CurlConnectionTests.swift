import Foundation
import XCTest
@testable import HTTPClient
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 that never accepts or answers: connects succeed (kernel backlog) and then hang.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw TestServerError("bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func stop() { close(fd) }
}

final class CurlConnectionTests: XCTestCase {
    var pki: TestPKI!
    var server: TLSTestServer!

    override func setUpWithError() throws {
        pki = try TestPKI.make()
        server = try TLSTestServer(pki: pki)
    }

    override func tearDown() {
        server?.stop()
        pki?.remove()
    }

    func config(ca: String? = nil, pin: String? = nil, totalMs: Int = 5_000) -> HTTPClientConfiguration {
        HTTPClientConfiguration(caFile: ca ?? pki.caFile, pinnedPublicKey: pin, connectTimeoutMs: 2_000,
                                totalTimeoutMs: totalMs, resolve: ["cashier.test:\(server.port):127.0.0.1"])
    }

    var url: String { "https://cashier.test:\(server.port)/echo" }

    func testTrustedCASucceedsAndReturnsStatusHeadersBody() throws {
        let c = try CurlConnection(configuration: config())
        let r = try c.perform(method: "POST", url: url, headers: ["Content-Type": "application/json"],
                              body: Array("{\"a\":1}".utf8)).get()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        XCTAssertEqual(r.headers["x-test"], "one, two")
        let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String]
        XCTAssertEqual(json?["method"], "POST")
        XCTAssertEqual(json?["body"], "{\"a\":1}")
        XCTAssertGreaterThan(r.totalTime, 0)
    }

    func testOtherMethodsAndGetAfterPost() throws {
        let c = try CurlConnection(configuration: config())
        _ = try c.perform(method: "POST", url: url, body: Array("x".utf8)).get()
        let del = try c.perform(method: "DELETE", url: url).get()
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(del.body)) as? [String: String])?["method"], "DELETE")
        let put = try c.perform(method: "PUT", url: url, body: Array("p".utf8)).get()
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(put.body)) as? [String: String])?["body"], "p")
        let get = try c.perform(method: "GET", url: url, body: []).get()
        let json = try JSONSerialization.jsonObject(with: Data(get.body)) as? [String: String]
        XCTAssertEqual(json?["method"], "GET")
        XCTAssertEqual(json?["body"], "")
    }

    func testOtherCAIsUntrusted() throws {
        let c = try CurlConnection(configuration: config(ca: pki.otherCAFile))
        let r = c.perform(method: "GET", url: url)
        guard case .failure(.tlsUntrusted) = r else { return XCTFail("expected tlsUntrusted, got \(r)") }
    }

    func testWrongPinIsUntrusted() throws {
        let wrong = "sha256//" + Data(repeating: 7, count: 32).base64EncodedString()
        let c = try CurlConnection(configuration: config(pin: wrong))
        let r = c.perform(method: "GET", url: url)
        guard case .failure(.tlsUntrusted) = r else { return XCTFail("expected tlsUntrusted, got \(r)") }
    }

    func testRightPinSucceeds() throws {
        let c = try CurlConnection(configuration: config(pin: pki.pin))
        XCTAssertEqual(try c.perform(method: "GET", url: url).get().status, 200)
    }

    func testClosedPortCouldNotConnect() throws {
        let listener = try SilentListener()
        let port = listener.port
        listener.stop()  // now nothing listens on the port
        var cfg = config()
        cfg.resolve = ["cashier.test:\(port):127.0.0.1"]
        let c = try CurlConnection(configuration: cfg)
        let r = c.perform(method: "GET", url: "https://cashier.test:\(port)/")
        guard case .failure(.couldNotConnect) = r else { return XCTFail("expected couldNotConnect, got \(r)") }
    }

    func testSilentListenerTimesOutBeforeTheRequestLeft() throws {
        let listener = try SilentListener()
        var cfg = config(totalMs: 700)
        cfg.resolve = ["cashier.test:\(listener.port):127.0.0.1"]
        let c = try CurlConnection(configuration: cfg)
        let started = Date()
        let r = c.perform(method: "GET", url: "https://cashier.test:\(listener.port)/")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(r.failure, .timedOut(afterConnect: false))
        listener.stop()
    }

    func testSlowAnswerTimesOutAfterConnect() throws {
        let c = try CurlConnection(configuration: config(totalMs: 800))
        let r = c.perform(method: "POST", url: "https://cashier.test:\(server.port)/slow", body: [1])
        XCTAssertEqual(r.failure, .timedOut(afterConnect: true))
    }

    /// A connection idle longer than `maxIdleReuseSeconds` is not reused: the service closes idle ones after
    /// its own timeout, and a request sent as it does so is reset.
    func testAConnectionIdleTooLongIsNotReused() throws {
        var cfg = config()
        cfg.maxIdleReuseSeconds = 1
        let c = try CurlConnection(configuration: cfg)
        XCTAssertEqual(try c.perform(method: "GET", url: url).get().newConnections, 1)
        XCTAssertEqual(try c.perform(method: "GET", url: url).get().newConnections, 0, "fresh enough: reused")
        Thread.sleep(forTimeInterval: 2.1)
        XCTAssertEqual(try c.perform(method: "GET", url: url).get().newConnections, 1, "idle too long: a new connection")
    }

    func testKeepAliveReusesTheConnection() throws {
        let c = try CurlConnection(configuration: config())
        let first = try c.perform(method: "GET", url: url).get()
        XCTAssertEqual(first.newConnections, 1)
        let second = try c.perform(method: "POST", url: url, body: Array("again".utf8)).get()
        XCTAssertEqual(second.newConnections, 0, "the second request rides the kept-alive connection")
        let third = try c.perform(method: "GET", url: url).get()
        XCTAssertEqual(third.newConnections, 0)
    }
}

extension Result {
    var failure: Failure? { if case let .failure(e) = self { return e } else { return nil } }
}
