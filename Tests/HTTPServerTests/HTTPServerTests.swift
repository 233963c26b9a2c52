import Foundation
import HTTPServer
import XCTest

/// Describes the request in plain text so curl's output shows exactly what the handler saw.
@Sendable func describe(_ request: HTTPRequest) -> HTTPResponse {
    let query = request.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    let text = """
        method=\(request.method)
        path=\(request.path)
        query=\(query)
        x-test=\(request.header("X-Test") ?? "-")
        remote=\(request.remoteAddress)
        tooLarge=\(request.bodyTooLarge)
        bodyCount=\(request.body.count)
        body=\(String(decoding: request.body, as: UTF8.self))
        """
    return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain"), ("X-Handler", "describe")],
                        body: Array(text.utf8))
}

func plainServer(maxBodyBytes: Int = 64 * 1024,
                 handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse = describe) throws -> HTTPServer {
    var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
    configuration.maxBodyBytes = maxBodyBytes
    return try HTTPServer(configuration: configuration, handler: handler)
}

func baseURL(_ server: HTTPServer) -> String {
    let address = server.boundAddresses[0]
    return "\(address.tls ? "https" : "http")://127.0.0.1:\(address.port)"
}

final class HTTPServerTests: XCTestCase {
    func testBoundPortIsReal() throws {
        let server = try plainServer()
        defer { server.stop() }
        XCTAssertEqual(server.boundAddresses.count, 1)
        XCTAssertNotEqual(server.boundAddresses[0].port, 0)
        XCTAssertEqual(server.boundAddresses[0].host, "127.0.0.1")
    }

    func testRequestBodyQueryAndHeadersArrive() throws {
        let server = try plainServer()
        defer { server.stop() }
        let result = try runCurl(["-D", "-", "-H", "X-Test: hello there", "--data-binary", "@-",
                                  "\(baseURL(server))/orders/42?a=1&b=two%20words&flag"],
                                 stdin: Array("échec\nline two".utf8))
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("HTTP/1.1 200"), result.stdout)
        XCTAssertTrue(result.stdout.contains("X-Handler: describe"), result.stdout)
        XCTAssertTrue(result.stdout.contains("method=POST\npath=/orders/42\nquery=a=1&b=two words&flag=\n"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("x-test=hello there\nremote=127.0.0.1\ntooLarge=false\n"), result.stdout)
        XCTAssertTrue(result.stdout.hasSuffix("body=échec\nline two"), result.stdout)
    }

    func testStatusAndEmptyBody() throws {
        let server = try plainServer { _ in HTTPResponse(status: 404, headers: [("X-Reason", "nothing")]) }
        defer { server.stop() }
        let result = try runCurl(["-D", "-", "-o", "/dev/null", "\(baseURL(server))/missing"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("HTTP/1.1 404"), result.stdout)
        XCTAssertTrue(result.stdout.contains("X-Reason: nothing"), result.stdout)
        XCTAssertTrue(result.stdout.lowercased().contains("content-length: 0"), result.stdout)
    }

    func testOversizedBodyIsFlaggedAndTruncated() throws {
        let server = try plainServer(maxBodyBytes: 1000)
        defer { server.stop() }
        let big = try runCurl(["--data-binary", "@-", "\(baseURL(server))/big"],
                              stdin: [UInt8](repeating: UInt8(ascii: "x"), count: 200_000))
        XCTAssertEqual(big.exitCode, 0, big.stderr)
        XCTAssertTrue(big.stdout.contains("tooLarge=true\nbodyCount=1000\n"), big.stdout)
        let exact = try runCurl(["--data-binary", "@-", "\(baseURL(server))/exact"],
                                stdin: [UInt8](repeating: UInt8(ascii: "y"), count: 1000))
        XCTAssertTrue(exact.stdout.contains("tooLarge=false\nbodyCount=1000\n"), exact.stdout)
    }

    func testKeepAliveReusesOneConnection() throws {
        let server = try plainServer()
        defer { server.stop() }
        let result = try runCurl(["-v", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n",
                                  "\(baseURL(server))/one", "\(baseURL(server))/two"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertEqual(result.stdout, "1\n0\n")
        XCTAssertTrue(result.stderr.contains("Re-using existing connection"), result.stderr)
    }

    func testFiftyConcurrentRequestsAreAllAnswered() throws {
        let gauge = Gauge()
        let server = try plainServer { request in
            gauge.enter()
            defer { gauge.leave() }
            usleep(300_000)
            return HTTPResponse(status: 200, body: Array("done \(request.path)".utf8))
        }
        defer { server.stop() }
        let urls = (0..<50).map { "\(baseURL(server))/n/\($0)" }
        let started = Date()
        let result = try runCurl(["--parallel", "--parallel-immediate", "--parallel-max", "50",
                                  "-w", "%{http_code}\n"] + urls.flatMap { ["-o", "/dev/null", $0] },
                                 timeLimit: 30)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0 == "200" }.count, 50, result.stdout)
        XCTAssertEqual(gauge.snapshot.total, 50)
        XCTAssertGreaterThan(gauge.snapshot.peak, 10, "handlers should run side by side")
        XCTAssertLessThan(elapsed, 10, "50 × 0.3 s handlers in sequence would take 15 s")
    }

    func testGracefulStopWaitsForSlowHandler() throws {
        let entered = DispatchSemaphore(value: 0)
        let gauge = Gauge()
        let server = try plainServer { _ in
            gauge.enter()
            entered.signal()
            usleep(1_500_000)
            gauge.leave()
            return HTTPResponse(status: 200, body: Array("slow but finished".utf8))
        }
        let url = "\(baseURL(server))/slow"
        let slow = try startCurl(["-w", "\n%{http_code}", url])
        XCTAssertEqual(entered.wait(timeout: .now() + 10), .success, "the handler never started")
        let stopStarted = Date()
        server.stop()
        let stopTook = Date().timeIntervalSince(stopStarted)
        XCTAssertEqual(gauge.snapshot.current, 0, "stop returned while a handler was still running")
        XCTAssertGreaterThan(stopTook, 0.8)
        let result = try slow.finish()
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertEqual(result.stdout, "slow but finished\n200")
        // Stopped means stopped: new connections are refused, and stopping again is harmless.
        let refused = try runCurl([url])
        XCTAssertEqual(refused.exitCode, 7, refused.stderr)
        server.stop()
    }

    func testSecondServerOnSamePortReportsAddressInUse() throws {
        let first = try plainServer()
        defer { first.stop() }
        let port = first.boundAddresses[0].port
        let configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: port, tls: false)])
        XCTAssertThrowsError(try HTTPServer(configuration: configuration, handler: describe)) { error in
            XCTAssertEqual("\(error)", "cannot listen on 127.0.0.1:\(port): address in use")
        }
    }

    func testBadAddressAndMissingTLSAreClearErrors() throws {
        let bad = HTTPServerConfiguration(listen: [ListenAddress(host: "localhost", port: 0, tls: false)])
        XCTAssertThrowsError(try HTTPServer(configuration: bad, handler: describe)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot listen on localhost:0: not an IPv4 or IPv6"), "\(error)")
        }
        let noTLS = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: true)])
        XCTAssertThrowsError(try HTTPServer(configuration: noTLS, handler: describe)) { error in
            XCTAssertTrue("\(error)".contains("TLS requested"), "\(error)")
        }
        let garbage = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: true)],
                                              tls: TLSMaterial(certificatePEM: "nope", privateKeyPEM: "nope"))
        XCTAssertThrowsError(try HTTPServer(configuration: garbage, handler: describe)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot listen on 127.0.0.1:0: "), "\(error)")
        }
    }

    func testIPv6Loopback() throws {
        let configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "::1", port: 0, tls: false)])
        let server: HTTPServer
        do {
            server = try HTTPServer(configuration: configuration, handler: describe)
        } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        defer { server.stop() }
        let result = try runCurl(["http://[::1]:\(server.boundAddresses[0].port)/six"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("path=/six\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("remote=::1\n"), result.stdout)
    }
}
