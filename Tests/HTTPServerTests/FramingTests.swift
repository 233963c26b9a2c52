import Foundation
import HTTPServer
import XCTest

/// Strict HTTP/1.1 framing (RFC 9112) over raw sockets: requests whose length is ambiguous are refused
/// with 400 and the connection is closed, so nothing sent after them is ever read as a request; and
/// every refusal the HTTP layer makes itself carries the JSON error body.
final class FramingTests: XCTestCase {
    /// A valid request sent right behind each bad one on the same connection: it must never be answered.
    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

    /// Sends `bytes`, reads until the server closes, and checks one JSON refusal came back and nothing else.
    func assertRefused(_ name: String, _ server: HTTPServer, _ bytes: String, status: Int, code: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            let socket = try RawSocket(port: server.boundAddresses[0].port, receiveTimeout: 5)
            let started = Date()
            socket.send(bytes)
            let (text, closed) = socket.readAll()
            XCTAssertTrue(closed, "\(name): the connection stayed open after the refusal: \(text)", file: file, line: line)
            XCTAssertLessThan(Date().timeIntervalSince(started), 4, "\(name): the refusal was slow", file: file, line: line)
            XCTAssertFalse(text.contains("path=/"), "\(name): a handler answered: \(text)", file: file, line: line)
            guard let response = RawResponse(text) else { return XCTFail("\(name): no response: \(text)", file: file, line: line) }
            XCTAssertEqual(response.trailing, "", "\(name): more than one answer: \(text)", file: file, line: line)
            XCTAssertEqual(response.status, status, "\(name): \(text)", file: file, line: line)
            XCTAssertEqual(response.headers["content-type"], "application/json", "\(name): \(text)", file: file, line: line)
            XCTAssertEqual(response.headers["connection"]?.lowercased(), "close", "\(name): \(text)", file: file, line: line)
            let error = response.error
            XCTAssertEqual(error?["code"] as? String, code, "\(name): \(text)", file: file, line: line)
            XCTAssertEqual(error?["retryable"] as? Bool, false, "\(name): \(text)", file: file, line: line)
            XCTAssertFalse((error?["message"] as? String ?? "").isEmpty, "\(name): \(text)", file: file, line: line)
            XCTAssertFalse((error?["detail"] as? String ?? "").isEmpty, "\(name): \(text)", file: file, line: line)
        } catch {
            XCTFail("\(name): \(error)", file: file, line: line)
        }
    }

    func countingServer(maxBodyBytes: Int = 64 * 1024) throws -> (HTTPServer, Gauge) {
        let gauge = Gauge()
        let server = try plainServer(maxBodyBytes: maxBodyBytes) { request in
            gauge.enter()
            defer { gauge.leave() }
            return describe(request)
        }
        return (server, gauge)
    }

    func testAmbiguousLengthsAreRefusedAndWhatFollowsIsNeverRead() throws {
        let (server, gauge) = try countingServer()
        defer { server.stop() }
        let bad = [
            "both lengths": "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "both lengths, other order": "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
            "two lengths": "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "a list of lengths": "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
            "space before the colon": "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            "tab before the colon": "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\nhello",
            "a coding other than chunked": "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "chunked twice": "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "chunked in HTTP/1.0": "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "no Host in HTTP/1.1": "GET /a HTTP/1.1\r\n\r\n",
            "two Hosts": "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        ]
        for (name, request) in bad.sorted(by: { $0.key < $1.key }) {
            assertRefused(name, server, request + Self.smuggled, status: 400, code: "HTTP_MALFORMED")
        }
        XCTAssertEqual(gauge.snapshot.total, 0, "a handler saw a request with ambiguous framing")

        // The same connection shapes with clean framing are served, pipelined request and all.
        let socket = try RawSocket(port: server.boundAddresses[0].port)
        socket.send("POST /clean HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
                    "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
                    "GET /old HTTP/1.0\r\n\r\n")
        let (text, _) = socket.readAll()
        XCTAssertTrue(text.contains("path=/clean\n") && text.contains("body=hello"), text)
        XCTAssertTrue(text.contains("path=/chunked\n") && text.contains("body=abc"), text)
        XCTAssertTrue(text.contains("path=/old\n"), text)
        XCTAssertEqual(gauge.snapshot.total, 3)
    }

    func testExpectContinueWithATooLargeLengthIsRefusedBeforeContinue() throws {
        let (server, gauge) = try countingServer(maxBodyBytes: 1000)
        defer { server.stop() }
        let socket = try RawSocket(port: server.boundAddresses[0].port, receiveTimeout: 5)
        let started = Date()
        socket.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n")
        let (text, closed) = socket.readAll()
        XCTAssertFalse(text.contains("100 Continue"), "told the client to send a body that will be refused: \(text)")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 413"), text)
        XCTAssertTrue(closed, "the connection stayed open, waiting for a gigabyte")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(RawResponse(text)?.error?["code"] as? String, "BODY_TOO_LARGE", text)
        XCTAssertEqual(gauge.snapshot.total, 0)

        // Within the limit, the client is told to go on and the request is served.
        let small = try RawSocket(port: server.boundAddresses[0].port)
        small.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertTrue(small.readSome().hasPrefix("HTTP/1.1 100 Continue"))
        small.send("hello")
        XCTAssertTrue(small.readResponse()?.contains("body=hello") ?? false)
    }

    /// What libmicrohttpd refuses on its own (request line, header syntax, sizes, version, chunked syntax)
    /// is answered with the JSON error body too.
    func testRefusalsOfTheParserAreJSON() throws {
        let (server, gauge) = try countingServer()
        defer { server.stop() }
        let longPath = "/" + String(repeating: "a", count: 40_000)
        let bigHeader = String(repeating: "b", count: 40_000)
        let cases: [(String, String, Int, String)] = [
            ("not HTTP", "THIS IS NOT HTTP\r\n\r\n", 400, "HTTP_MALFORMED"),
            ("no version", "GET /\r\n\r\n", 400, "HTTP_MALFORMED"),
            ("header without colon", "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "HTTP_MALFORMED"),
            ("length not a number", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\n", 400, "HTTP_MALFORMED"),
            ("chunk size not hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "HTTP_MALFORMED"),
            ("length beyond 64 bits", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "BODY_TOO_LARGE"),
            ("URI too long", "GET \(longPath) HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"),
            ("headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(bigHeader)\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
            ("HTTP/2.0 in text", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
            ("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
        ]
        for (name, request, status, code) in cases {
            assertRefused(name, server, request, status: status, code: code)
        }
        XCTAssertEqual(gauge.snapshot.total, 0)
    }

    func testRawPathIsTheBytesSentAndPathIsDecoded() throws {
        let server = try plainServer { request in
            HTTPResponse(status: 200, body: Array("raw=\(request.rawPath)\npath=\(request.path)\nq=\(request.queryValue("q") ?? "-")".utf8))
        }
        defer { server.stop() }
        let socket = try RawSocket(port: server.boundAddresses[0].port)
        socket.send("GET /v1/p%69ng/a%2Fb?q=%41+b HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = socket.readResponse() ?? ""
        XCTAssertTrue(text.hasSuffix("raw=/v1/p%69ng/a%2Fb\npath=/v1/ping/a/b\nq=A b"), text)
        socket.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(socket.readResponse()?.hasSuffix("raw=/plain\npath=/plain\nq=-") ?? false)
    }
}
