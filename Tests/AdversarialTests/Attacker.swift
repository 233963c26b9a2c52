import CashierClient
import CashierCore
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// What came back from a hand-made request.
struct RawAnswer {
    var status: Int
    var code: ErrorCode?
    var body: [UInt8]
}

/// Crafts requests the way an attacker would: signed or not, with any field chosen by hand.
struct Attacker {
    let service: Cashierd

    /// The signature headers for a request, with every field open to choice.
    static func headers(_ c: DeviceCredentials, method: String, path: String, query: [(String, String)] = [], body: [UInt8] = [],
                        timestamp: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = Signing.makeNonce()) -> [String: String] {
        let toSign = RequestToSign(method: method, path: path, query: query, timestamp: timestamp, nonce: nonce,
                                   deviceID: c.deviceId, body: body)
        return [SignatureHeader.device: c.deviceId, SignatureHeader.timestamp: String(timestamp), SignatureHeader.nonce: nonce,
                SignatureHeader.signature: Signing.sign(toSign, key: c.key)]
    }

    /// Sends a request to `baseURL` (default: the service's first address) and reads the error code, if any.
    func send(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
              headers: [String: String], baseURL: String? = nil) throws -> RawAnswer {
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        var url = (baseURL ?? service.urls[0]) + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Signing.percentEncode($0.0))=\(Signing.percentEncode($0.1))" }.joined(separator: "&")
        }
        let r = try conn.perform(method: method, url: url, headers: headers, body: method == "GET" ? nil : body).get()
        return RawAnswer(status: r.status, code: (try? API.decode(ErrorEnvelope.self, from: r.body))?.error.code, body: r.body)
    }

    /// Signs with `c` and sends in one go.
    func signed(_ c: DeviceCredentials, _ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                timestamp: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = Signing.makeNonce(),
                baseURL: String? = nil) throws -> RawAnswer {
        try send(method, path, query: query, body: body,
                 headers: Self.headers(c, method: method, path: path, query: query, body: body, timestamp: timestamp, nonce: nonce),
                 baseURL: baseURL)
    }
}

/// The error code of a failed typed call, or nil when it succeeded or failed for another reason.
func refusalCode<T>(_ r: Result<T, CallFailure>) -> ErrorCode? {
    if case .failure(.service(let e)) = r { return e.code }
    return nil
}

/// Host and port of a base URL such as `https://127.0.0.1:40123`.
func hostPort(_ url: String) -> (String, UInt16) {
    let rest = url.components(separatedBy: "://").last!
    let colon = rest.lastIndex(of: ":")!
    return (String(rest[..<colon]), UInt16(rest[rest.index(after: colon)...])!)
}

extension XCTestCase {
    /// After an attack: the process is alive, a signed ping answers, and the books reconcile.
    func assertServiceIntact(_ service: Cashierd, _ credentials: DeviceCredentials,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(service.child?.process.isRunning ?? false, "cashierd died", file: file, line: line)
        do {
            let t = try service.transport()
            _ = try t.call("GET", API.Path.ping, credentials: credentials).decoded(PingResponse.self).get()
            let r = try service.admin(["reconcile"])
            XCTAssertEqual(r.status, 0, "reconcile: \(r.stdout) \(r.stderr)", file: file, line: line)
        } catch {
            XCTFail("service not intact: \(error)", file: file, line: line)
        }
    }

    /// A created order paid with the sandbox's always-paid scenario.
    func paidOrder(_ t: TestTerminal, _ amount: Int64, file: StaticString = #filePath, line: UInt = #line) throws -> OrderView {
        let order = try t.createOrder(amount: amount).unwrap()
        let paid = try t.pay(order.orderNo, code: paymentCode(.paid)).unwrap()
        XCTAssertEqual(paid.status, .paid, file: file, line: line)
        return paid
    }
}
