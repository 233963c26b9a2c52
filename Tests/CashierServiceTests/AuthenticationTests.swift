import CashierClient
import CashierCore
import CashierCrypto
import CashierService
import CashierStorage
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Activation and every rejection of a signed request, each with its own error code.
final class AuthenticationTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd()
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// Sends a hand-made request so single fields can be altered; returns status and error code.
    private func raw(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                     headers: [String: String]) throws -> (Int, ErrorCode?, [String: String]) {
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        var url = service.urls[0] + path
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&") }
        let response = try conn.perform(method: method, url: url, headers: headers, body: method == "GET" ? nil : body).get()
        let code = (try? API.decode(ErrorEnvelope.self, from: response.body))?.error.code
        return (response.status, code, response.headers)
    }

    private func signedHeaders(_ c: DeviceCredentials, method: String, path: String, query: [(String, String)] = [], body: [UInt8] = [],
                               timestamp: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = Signing.makeNonce()) -> [String: String] {
        let toSign = RequestToSign(method: method, path: path, query: query, timestamp: timestamp, nonce: nonce, deviceID: c.deviceId, body: body)
        return [SignatureHeader.device: c.deviceId, SignatureHeader.timestamp: String(timestamp), SignatureHeader.nonce: nonce,
                SignatureHeader.signature: Signing.sign(toSign, key: c.key)]
    }

    func testActivationGivesAWorkingKeyAndCodesAreOneTime() throws {
        let transport = try service.transport()
        let activation = try transport.activate(code: service.activationCode.lowercased().replacingOccurrences(of: "-", with: " "), deviceName: "till 1").get()
        XCTAssertEqual(activation.store.storeId, service.storeID)
        XCTAssertEqual(activation.deviceSecret.count, 64)
        let creds = DeviceCredentials(deviceId: activation.deviceId, deviceSecret: activation.deviceSecret, store: activation.store)
        let ping = try transport.call("GET", API.Path.ping, credentials: creds).decoded(PingResponse.self).get()
        XCTAssertEqual(ping.deviceId, activation.deviceId)
        guard case .failure(.service(let used)) = transport.activate(code: service.activationCode, deviceName: nil) else { return XCTFail() }
        XCTAssertEqual(used.code, .activationCodeUsed)
        guard case .failure(.service(let unknown)) = transport.activate(code: "BCDF-GHJK", deviceName: nil) else { return XCTFail() }
        XCTAssertEqual(unknown.code, .activationCodeInvalid)
        let listed = try service.admin(["device", "list"]).stdout
        XCTAssertTrue(listed.contains(activation.deviceId) && listed.contains("active"), listed)
    }

    func testExpiredCodeIsRefused() throws {
        let code = try service.newActivationCode()
        // Age the code in the base database, as the clock would.
        let db = try SQLiteTestDatabase(path: (service.dataPath as NSString).appendingPathComponent("base.sqlite"))
        try db.exec("UPDATE activation_codes SET expires_at = 1000")
        guard case .failure(.service(let e)) = try service.transport().activate(code: code, deviceName: nil) else { return XCTFail() }
        XCTAssertEqual(e.code, .activationCodeExpired)
    }

    func testGuessingActivationCodesIsRateLimited() throws {
        let transport = try service.transport()
        var codes: [ErrorCode] = []
        for i in 0..<12 {
            let guess = "BCDF-GH" + String(ActivationCode.alphabet[i]) + String(ActivationCode.alphabet[i + 1])
            if case .failure(.service(let e)) = transport.activate(code: guess, deviceName: nil) { codes.append(e.code) }
        }
        XCTAssertEqual(codes.prefix(10).filter { $0 == .activationCodeInvalid }.count, 10)
        XCTAssertEqual(codes.suffix(2), [.rateLimited, .rateLimited])
        // Even the right code is refused while the limit holds.
        guard case .failure(.service(let e)) = transport.activate(code: service.activationCode, deviceName: nil) else { return XCTFail() }
        XCTAssertEqual(e.code, .rateLimited)
    }

    func testEveryAlteredFieldIsRefused() throws {
        let c = try service.activateTerminal()
        let body = API.encode(CreateOrderRequest(amount: 100))
        let good = signedHeaders(c, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: good).0, 201)

        // Each alteration of a signed request, sent with a fresh nonce so only the alteration can be the cause.
        func fresh() -> [String: String] { signedHeaders(c, method: "POST", path: API.Path.orders, body: body) }
        var h = fresh()
        XCTAssertEqual(try raw("POST", API.Path.orders, body: API.encode(CreateOrderRequest(amount: 101)), headers: h).1, .signatureInvalid, "body")
        h = fresh()
        XCTAssertEqual(try raw("POST", API.Path.orders, query: [("limit", "5")], body: body, headers: h).1, .signatureInvalid, "query")
        h = fresh()
        XCTAssertEqual(try raw("GET", API.Path.orders, headers: h).1, .signatureInvalid, "method")
        h = signedHeaders(c, method: "GET", path: API.Path.ping)
        XCTAssertEqual(try raw("GET", API.Path.orders, headers: h).1, .signatureInvalid, "path")
        h = fresh(); h[SignatureHeader.timestamp] = String(Int64(h[SignatureHeader.timestamp]!)! + 1)
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).1, .signatureInvalid, "timestamp")
        h = fresh(); h[SignatureHeader.nonce] = Signing.makeNonce()
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).1, .signatureInvalid, "nonce")
        h = fresh(); h[SignatureHeader.signature] = String(repeating: "0", count: 64)
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).1, .signatureInvalid, "signature")
        h = fresh(); h[SignatureHeader.device] = "DNOSUCHDEVICE"
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).1, .deviceUnknown, "device")
        h = fresh(); h[SignatureHeader.signature] = nil
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).1, .signatureMissing, "missing")
        let old = Int64(Date().timeIntervalSince1970) - 301
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: signedHeaders(c, method: "POST", path: API.Path.orders, body: body, timestamp: old)).1, .timestampSkewed)
        // +305, not +301: the whole seconds here are truncated, so a request sent just before a second ends would
        // be 300.x s ahead of the service's clock a moment later, inside the window.
        let future = Int64(Date().timeIntervalSince1970) + 305
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: signedHeaders(c, method: "POST", path: API.Path.orders, body: body, timestamp: future)).1, .timestampSkewed)
    }

    func testAStaleButGenuineRequestGetsASignedRefusalStampedWithTheServicesTime() throws {
        let c = try service.activateTerminal()
        let now = Int64(Date().timeIntervalSince1970)
        let nonce = Signing.makeNonce()
        let stale = now - 3_600
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        let r = try conn.perform(method: "GET", url: service.urls[0] + API.Path.ping,
                                 headers: signedHeaders(c, method: "GET", path: API.Path.ping, timestamp: stale, nonce: nonce), body: nil).get()
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual((try? API.decode(ErrorEnvelope.self, from: r.body))?.error.code, .timestampSkewed)
        let stamp = try XCTUnwrap(r.headers[SignatureHeader.timestamp.lowercased()].flatMap { Int64($0) })
        XCTAssertLessThanOrEqual(abs(stamp - now), 5, "stamped with the service's time, not the request's")
        let signature = try XCTUnwrap(r.headers[SignatureHeader.signature.lowercased()])
        let answer = ResponseToSign(status: 401, requestMethod: "GET", requestPath: API.Path.ping, requestNonce: nonce,
                                    timestamp: stamp, deviceID: c.deviceId, body: r.body)
        XCTAssertTrue(Signing.verify(answer, signature: signature, key: c.key), "signed under the device's key, for this request")

        // The refusal recorded nothing: the same nonce, signed at the right time, is accepted.
        XCTAssertEqual(try raw("GET", API.Path.ping, headers: signedHeaders(c, method: "GET", path: API.Path.ping, nonce: nonce)).0, 200)

        // A stale request with a wrong signature is refused for its signature, unsigned: no oracle of the key.
        var forged = signedHeaders(c, method: "GET", path: API.Path.ping, timestamp: stale)
        forged[SignatureHeader.signature] = String(repeating: "0", count: 64)
        let (status, code, headers) = try raw("GET", API.Path.ping, headers: forged)
        XCTAssertEqual(status, 401)
        XCTAssertEqual(code, .signatureInvalid)
        XCTAssertNil(headers[SignatureHeader.signature.lowercased()])
    }

    func testReplayIsRefusedAlsoByASecondDomain() throws {
        let c = try service.activateTerminal()
        let body = API.encode(CreateOrderRequest(amount: 100))
        let h = signedHeaders(c, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try raw("POST", API.Path.orders, body: body, headers: h).0, 201)
        let (status, code, _) = try raw("POST", API.Path.orders, body: body, headers: h)
        XCTAssertEqual(status, 401)
        XCTAssertEqual(code, .nonceReplayed)
        // The other listen address shares the nonce store.
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        let other = try conn.perform(method: "POST", url: service.urls[1] + API.Path.orders, headers: h, body: body).get()
        XCTAssertEqual((try? API.decode(ErrorEnvelope.self, from: other.body))?.error.code, .nonceReplayed)
        XCTAssertEqual(try TestTerminal(transport: service.transport(), credentials: c).list().unwrap().orders.count, 1, "only the first was created")
    }

    func testRevokedDeviceIsRefusedFromItsNextRequest() throws {
        let c = try service.activateTerminal()
        let t = TestTerminal(transport: try service.transport(), credentials: c)
        XCTAssertNoThrow(try t.list().unwrap())
        XCTAssertEqual(try service.admin(["device", "revoke", c.deviceId]).status, 0)
        guard case .failure(.service(let e)) = t.list() else { return XCTFail("a revoked device was served") }
        XCTAssertEqual(e.code, .deviceRevoked)
        XCTAssertTrue(try service.admin(["device", "list"]).stdout.contains("revoked"))
    }

    func testResponsesAreSignedAndBoundToTheRequest() throws {
        let c = try service.activateTerminal()
        let nonce = Signing.makeNonce()
        let h = signedHeaders(c, method: "GET", path: API.Path.ping, nonce: nonce)
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        let r = try conn.perform(method: "GET", url: service.urls[0] + API.Path.ping, headers: h).get()
        let ts = Int64(r.headers["x-cashier-timestamp"]!)!
        let sig = r.headers["x-cashier-signature"]!
        let genuine = ResponseToSign(status: r.status, requestMethod: "GET", requestPath: API.Path.ping, requestNonce: nonce,
                                     timestamp: ts, deviceID: c.deviceId, body: r.body)
        XCTAssertTrue(Signing.verify(genuine, signature: sig, key: c.key))
        var otherRequest = genuine
        otherRequest.requestNonce = Signing.makeNonce()
        XCTAssertFalse(Signing.verify(otherRequest, signature: sig, key: c.key), "a replayed answer does not fit another request")
        var tampered = genuine
        tampered.body = Array(String(decoding: r.body, as: UTF8.self).replacingOccurrences(of: "cashierd", with: "cashierX").utf8)
        XCTAssertFalse(Signing.verify(tampered, signature: sig, key: c.key))
    }

    /// Expired nonces are deleted from the base database and from every order group (where pay keeps its
    /// nonces); nonces still inside their window stay, so a replay is still refused. On the running
    /// service's files, as its housekeeping thread does every minute.
    func testExpiredNoncesArePrunedFromTheBaseAndEveryGroup() throws {
        service.stop()
        let runtime = try ServiceRuntime(dataDirectory: service.dataPath, logRequests: false)
        let tags = runtime.hopping.groupTags
        XCTAssertEqual(tags.count, 3)
        let expired = NonceRecord(deviceID: "D1", nonce: "nonce-expired-0000", expiresAt: 1_000)
        let live = NonceRecord(deviceID: "D1", nonce: "nonce-live-0000000", expiresAt: 5_000)
        for nonce in [expired, live] {
            XCTAssertTrue(try runtime.base.recordNonce(deviceID: nonce.deviceID, nonce: nonce.nonce, expiresAt: nonce.expiresAt))
            for tag in tags { XCTAssertTrue(try runtime.hopping.withGroup(tag) { try $0.recordNonce(nonce) }) }
        }

        XCTAssertEqual(runtime.service.pruneExpiredNonces(now: 999), 0, "nothing has expired yet")
        XCTAssertEqual(runtime.service.pruneExpiredNonces(now: 1_000), 1 + tags.count, "one from the base and one from each group")

        XCTAssertTrue(try runtime.base.recordNonce(deviceID: expired.deviceID, nonce: expired.nonce, expiresAt: 9_000), "pruned")
        XCTAssertFalse(try runtime.base.recordNonce(deviceID: live.deviceID, nonce: live.nonce, expiresAt: 9_000), "kept")
        for tag in tags {
            XCTAssertTrue(try runtime.hopping.withGroup(tag) { try $0.recordNonce(expired) }, "pruned from group \(tag)")
            XCTAssertFalse(try runtime.hopping.withGroup(tag) { try $0.recordNonce(live) }, "kept in group \(tag)")
        }
    }
}
