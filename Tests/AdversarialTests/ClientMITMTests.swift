import CashierClient
import CashierCore
import CashierCrypto
import Foundation
import HTTPClient
import HTTPServer
import TestSupport
import XCTest

/// The client's side of man-in-the-middle defence: a certificate for another name, and a genuine signed
/// answer replayed to a different request, are both refused.
final class ClientMITMTests: XCTestCase {
    var service: Cashierd!
    var credentials: DeviceCredentials!

    override func setUpWithError() throws {
        service = try Cashierd()
        credentials = try service.activateTerminal()
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// The deployment's own CA, as an attacker who stole its key (or a mis-issued certificate) would have it.
    private func authority() throws -> PEMPair {
        PEMPair(certificatePEM: try String(contentsOfFile: service.caFile, encoding: .utf8),
                privateKeyPEM: try String(contentsOfFile: (service.dataPath as NSString).appendingPathComponent("ca-key.pem"), encoding: .utf8))
    }

    /// A TLS server on 127.0.0.1 with `certificate`, answering every request with `answer`.
    private func fakeServer(_ certificate: PEMPair, answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws -> (HTTPServer, String) {
        let server = try HTTPServer(configuration: HTTPServerConfiguration(
            listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: true)],
            tls: TLSMaterial(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM)), handler: answer)
        return (server, "https://127.0.0.1:\(server.boundAddresses[0].port)")
    }

    func testAValidCertificateForAnotherNameIsRefused() throws {
        let other = try Certificates.issueServerCertificate(authority: try authority(), commonName: "pay.other.example",
                                                            dnsNames: ["pay.other.example"], ipAddresses: [], validDays: 30)
        let (server, url) = try fakeServer(other) { _ in HTTPResponse(status: 200, body: Array("{}".utf8)) }
        defer { server.stop() }
        let transport = try SignedTransport(baseURL: url, http: service.httpConfiguration())
        guard case .failure(.transport(.tlsUntrusted)) = transport.call("GET", API.Path.ping, credentials: credentials) else {
            return XCTFail("a certificate for another name was accepted")
        }
        guard case .failure(.transport(.tlsUntrusted)) = transport.health() else { return XCTFail() }
    }

    func testAGenuineAnswerReplayedToAnotherRequestIsRefused() throws {
        // Record a genuine, correctly signed answer to one ping.
        let nonce = Signing.makeNonce()
        let ts = Int64(Date().timeIntervalSince1970)
        let toSign = RequestToSign(method: "GET", path: API.Path.ping, timestamp: ts, nonce: nonce, deviceID: credentials.deviceId, body: [])
        let headers = [SignatureHeader.device: credentials.deviceId, SignatureHeader.timestamp: String(ts),
                       SignatureHeader.nonce: nonce, SignatureHeader.signature: Signing.sign(toSign, key: credentials.key)]
        let genuine = try CurlConnection(configuration: service.httpConfiguration())
            .perform(method: "GET", url: service.urls[0] + API.Path.ping, headers: headers).get()
        XCTAssertEqual(genuine.status, 200)
        let recordedHeaders = [SignatureHeader.timestamp, SignatureHeader.signature].map { ($0, genuine.headers[$0.lowercased()]!) }
            + [("Content-Type", "application/json")]
        let recordedBody = genuine.body

        // A man in the middle (here even with a certificate the client trusts) answers the next ping with it.
        let trusted = try Certificates.issueServerCertificate(authority: try authority(), commonName: "127.0.0.1",
                                                              dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], validDays: 30)
        let (server, url) = try fakeServer(trusted) { _ in HTTPResponse(status: 200, headers: recordedHeaders, body: recordedBody) }
        defer { server.stop() }
        let transport = try SignedTransport(baseURL: url, http: service.httpConfiguration())
        guard case .failure(.unverified) = transport.call("GET", API.Path.ping, credentials: credentials) else {
            return XCTFail("an answer recorded for another request was accepted")
        }
        // The same recorded answer offered to a different path is refused too.
        guard case .failure(.unverified) = transport.call("GET", API.Path.orders, credentials: credentials) else {
            return XCTFail("an answer recorded for another path was accepted")
        }
        // And an unsigned 200 (a forged answer) as well.
        let (plain, plainURL) = try fakeServer(trusted) { _ in HTTPResponse(status: 200, body: recordedBody) }
        defer { plain.stop() }
        guard case .failure(.unverified) = try SignedTransport(baseURL: plainURL, http: service.httpConfiguration())
            .call("GET", API.Path.ping, credentials: credentials) else {
            return XCTFail("an unsigned answer was accepted")
        }
    }
}
