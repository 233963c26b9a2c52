import CashierCrypto
import Foundation
import HTTPServer
import XCTest

final class TLSTests: XCTestCase {
    /// A fresh CA, a server certificate for 127.0.0.1 and localhost, and a TLS server using it.
    struct Fixture {
        var authority: PEMPair
        var server: HTTPServer
        var caFile: String
        var port: UInt16
    }

    func makeFixture() throws -> Fixture {
        let authority = try Certificates.makeCertificateAuthority(commonName: "Test Cashier CA", validDays: 30)
        let leaf = try Certificates.issueServerCertificate(authority: authority, commonName: "cashierd",
                                                           dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"],
                                                           validDays: 30)
        let configuration = HTTPServerConfiguration(
            listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: true)],
            tls: TLSMaterial(certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM))
        let server = try HTTPServer(configuration: configuration, handler: describe)
        return Fixture(authority: authority, server: server, caFile: try temporaryFile(authority.certificatePEM),
                       port: server.boundAddresses[0].port)
    }

    func testCertificateShapes() throws {
        let authority = try Certificates.makeCertificateAuthority(commonName: "CA", validDays: 1)
        XCTAssertTrue(authority.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        XCTAssertTrue(authority.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let other = try Certificates.makeCertificateAuthority(commonName: "CA", validDays: 1)
        XCTAssertNotEqual(authority, other)
        let pin = try Certificates.publicKeyPin(certificatePEM: authority.certificatePEM)
        XCTAssertTrue(pin.hasPrefix("sha256//"))
        XCTAssertEqual(pin.count, 8 + 44)
        XCTAssertNotEqual(pin, try Certificates.publicKeyPin(certificatePEM: other.certificatePEM))
        XCTAssertThrowsError(try Certificates.publicKeyPin(certificatePEM: "not a certificate"))
        XCTAssertThrowsError(try Certificates.issueServerCertificate(
            authority: authority, commonName: "x", dnsNames: [], ipAddresses: ["300.1.1.1"], validDays: 1)) { error in
            XCTAssertTrue("\(error)".contains("300.1.1.1"), "\(error)")
        }
        let mismatched = PEMPair(certificatePEM: authority.certificatePEM, privateKeyPEM: other.privateKeyPEM)
        XCTAssertThrowsError(try Certificates.issueServerCertificate(
            authority: mismatched, commonName: "x", dnsNames: ["a"], ipAddresses: [], validDays: 1))
    }

    func testTrustedCAConnectsByIPAndName() throws {
        let fixture = try makeFixture()
        defer { fixture.server.stop() }
        let byIP = try runCurl(["--cacert", fixture.caFile, "-d", "secret", "https://127.0.0.1:\(fixture.port)/tls"])
        XCTAssertEqual(byIP.exitCode, 0, byIP.stderr)
        XCTAssertTrue(byIP.stdout.contains("path=/tls\n"), byIP.stdout)
        XCTAssertTrue(byIP.stdout.hasSuffix("body=secret"), byIP.stdout)
        let byName = try runCurl(["--cacert", fixture.caFile, "--resolve", "localhost:\(fixture.port):127.0.0.1",
                                  "https://localhost:\(fixture.port)/named"])
        XCTAssertEqual(byName.exitCode, 0, byName.stderr)
        XCTAssertTrue(byName.stdout.contains("path=/named\n"), byName.stdout)
    }

    func testUntrustedOrWrongNameFailsVerification() throws {
        let fixture = try makeFixture()
        defer { fixture.server.stop() }
        let untrusted = try runCurl(["https://127.0.0.1:\(fixture.port)/"])
        XCTAssertEqual(untrusted.exitCode, 60, untrusted.stderr)
        let otherCA = try Certificates.makeCertificateAuthority(commonName: "Someone else", validDays: 1)
        let wrongCA = try runCurl(["--cacert", try temporaryFile(otherCA.certificatePEM),
                                   "https://127.0.0.1:\(fixture.port)/"])
        XCTAssertEqual(wrongCA.exitCode, 60, wrongCA.stderr)
        let wrongName = try runCurl(["--cacert", fixture.caFile, "--resolve", "example.org:\(fixture.port):127.0.0.1",
                                     "https://example.org:\(fixture.port)/"])
        XCTAssertEqual(wrongName.exitCode, 60, wrongName.stderr)
    }

    func testPinnedPublicKeyIsAcceptedAndAWrongPinRejected() throws {
        let authority = try Certificates.makeCertificateAuthority(commonName: "Pin CA", validDays: 1)
        let leaf = try Certificates.issueServerCertificate(authority: authority, commonName: "cashierd",
                                                           dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"],
                                                           validDays: 1)
        let configuration = HTTPServerConfiguration(
            listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: true)],
            tls: TLSMaterial(certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM))
        let server = try HTTPServer(configuration: configuration, handler: describe)
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.boundAddresses[0].port)/pinned"
        let pin = try Certificates.publicKeyPin(certificatePEM: leaf.certificatePEM)
        let pinned = try runCurl(["--insecure", "--pinnedpubkey", pin, url])
        XCTAssertEqual(pinned.exitCode, 0, pinned.stderr)
        XCTAssertTrue(pinned.stdout.contains("path=/pinned\n"), pinned.stdout)
        let wrongPin = try Certificates.publicKeyPin(certificatePEM: authority.certificatePEM)
        let rejected = try runCurl(["--insecure", "--pinnedpubkey", wrongPin, url])
        XCTAssertEqual(rejected.exitCode, 90, rejected.stderr)
    }

    func testTLSKeepAlive() throws {
        let fixture = try makeFixture()
        defer { fixture.server.stop() }
        let url = "https://127.0.0.1:\(fixture.port)"
        let result = try runCurl(["--cacert", fixture.caFile, "-o", "/dev/null", "-o", "/dev/null",
                                  "-w", "%{num_connects}\n", "\(url)/a", "\(url)/b"])
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertEqual(result.stdout, "1\n0\n")
    }
}
