import CashierChannels
import CashierCrypto
import Foundation
import XCTest

/// The request signature exactly as Alipay publishes it, and the keys in every form Alipay hands out.
final class AlipaySigningTests: XCTestCase {
    /// A fixed 2048-bit test key (made for these tests; Alipay's published examples use keys nobody has).
    static let testKeyPKCS1 = """
    -----BEGIN RSA PRIVATE KEY-----
    MIIEpAIBAAKCAQEA2MYJMBsOeW34Z0RNUkl6Mdr6xizrtjNtguf8L2snAoEKsUsb
    2wZwbIx+g2TNvC4SVuSapiCAGxX7LjwkQWVUlRnzlz3iLiltCNjhF8gJSb6/2t2F
    zFX2Kofc4BzgsbnwZGhphotrIDTqQDcZFAgakMXbkIpAtXeJY0yuiS7Jl4ZTTtw4
    KrwV6ad0RC18TDYeU6zHg2VNxlLBPR3dbh7iXiMX6YhiytttI95qa9GptiYj+DOr
    ZLlws++Dj/psYYpcikq7fpTDOQjyXxKtMSMmcy9EItc+zU3a48Gfvi/nS67HbXSB
    Rwx23T3+RuAr39nNtOM9CbkZljRKlfmkDjjnDQIDAQABAoIBAAcYjUKkxORtTAhx
    WdVoo1ZDdICm0smoxRwLMc88wwILE4ltmH1WDuyp7EneM5MTFpv/XFKcCL8aPDOT
    82nfaJV/snoc1y0Rdq8njk+KR3rBaQomKzpe0mT4N18JgvXYAAo0lfogas+a+9Oo
    GhGOTFq5Db1qN43ZJy2rDzsqK9FiaSHYCRPWG+xAYSRxCaCr6qam4RAmgDdsSelO
    1t6APn8u0xV4j18g0hIORnbXCaGaNF69JncyNInwy4S3qt8m6vyalKBep/yP2Z/O
    w6rW5m4CQ5zLsjaLKvwdU00q6PO6/cI7Y0uaxNoP23LjCH5DHgvpMsu83UUMw4Mf
    r8NeoQECgYEA90qeEEiS1hjlBYk7pZv80IsZ6egcLtNQ+sadZVjYlZkHM96Yd5nF
    ux6h+O+/G1lJeq9kJSURY7dVSAuK742tOOIAKvGLDmu7J59b1GEaoHF0ZoGNSDev
    Ede1M8exgofRlqRYo5H/nPxfwQ1JMHBo0AwYBiubVlcG77hSG1KU2YECgYEA4GhL
    H94nObv719614PASh9dzXE7uJa04xUgr8B/6G4fp5S1Jh+wHb38XUTElAg+aYFs1
    gPsLeQwNP4yZcg/H7frZHQhqegeLdrWYq9MUgggvvFFWHCs6Mrp2AOmFaGx5GOqr
    xoi8LUZeozxG4L3aLgVLJdvUce7mQyT3cICMm40CgYEA6JFpdED8r5O8F+fHi+nW
    6z5XAa/EiZk9SIvwTPcwwgioSHTpCVo6JtAZXqgDIDJps5Mt6O0inJg4AUixwreI
    mL2bkMeXktloq0vpLiSgyRHKefkPKUMNSAeJKAh/fhZD25v2rObK8hY767CWC5M8
    T6WAFpV+QsYYBO1hcsbIrIECgYAWCMePmn2ZgqbI3HpZWtlG81XFc46YrniLjnmZ
    +1nQiDjkIt08dmWIgh8k/sFWgXe0DGCliIDo4tEOM10BwSDtchsNab0ivEjqYAxc
    mr5BwlIFmKru2yO8xWg+0K8jwLrnQmuZc+WeQHGcb5e6C4o3yJdHYV1rznxXjXKq
    XkTwJQKBgQCDbVut6RhrjzqC+3rJrGG/oz4o9V9hx0cGhMfAIpWVTuzWYqorkteP
    IMv3LLd1ZECmG0lvQt9BmmoImX/BYo95pALEMdJ09X4lbwtpnri8QAI51L5xn1lR
    8AmHjBdQgTbTnny/ZIPMri8h8phnRtJMjAW/1XAB5RSOQbUp/0HzzA==
    -----END RSA PRIVATE KEY-----
    """

    static let testPublicKey = """
    -----BEGIN PUBLIC KEY-----
    MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2MYJMBsOeW34Z0RNUkl6
    Mdr6xizrtjNtguf8L2snAoEKsUsb2wZwbIx+g2TNvC4SVuSapiCAGxX7LjwkQWVU
    lRnzlz3iLiltCNjhF8gJSb6/2t2FzFX2Kofc4BzgsbnwZGhphotrIDTqQDcZFAga
    kMXbkIpAtXeJY0yuiS7Jl4ZTTtw4KrwV6ad0RC18TDYeU6zHg2VNxlLBPR3dbh7i
    XiMX6YhiytttI95qa9GptiYj+DOrZLlws++Dj/psYYpcikq7fpTDOQjyXxKtMSMm
    cy9EItc+zU3a48Gfvi/nS67HbXSBRwx23T3+RuAr39nNtOM9CbkZljRKlfmkDjjn
    DQIDAQAB
    -----END PUBLIC KEY-----
    """

    static let bizContent = #"{"out_trade_no":"20150320010101001","scene":"bar_code","auth_code":"28763443825664394","subject":"Iphone6 16G","total_amount":"88.88"}"#

    static var fixedRequest: AlipayRequest {
        AlipayRequest(appID: "2014072300007148", method: "alipay.trade.pay", bizContent: bizContent, timestamp: "2014-07-24 03:07:50")
    }

    /// The string to sign: every parameter but `sign`, `sign_type` included, sorted, values raw.
    func testStringToSignOfTheFixedRequest() {
        XCTAssertEqual(Self.fixedRequest.stringToSign,
                       "app_id=2014072300007148&biz_content=" + Self.bizContent
                       + "&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0")
    }

    func testStringToSignDropsSignAndEmptyValuesAndSortsByBytes() {
        let text = AlipayRequest.stringToSign(["b": "2", "a": "1", "sign": "xyz", "empty": "", "B": "upper", "a_b": "x y&z=",
                                               "biz_content": #"{"subject":"咖啡 & tea"}"#])
        XCTAssertEqual(text, #"B=upper&a=1&a_b=x y&z=&b=2&biz_content={"subject":"咖啡 & tea"}"#)
    }

    func testAppAuthTokenIsSignedAndTravelsInTheBodyNotTheURL() {
        let request = AlipayRequest(appID: "2014072300007148", method: "alipay.trade.query", bizContent: #"{"out_trade_no":"1"}"#,
                                    timestamp: "2014-07-24 03:07:50", appAuthToken: "201510BBaabdb44d8fd04607abf8d5931ec75D84")
        XCTAssertTrue(request.stringToSign.contains("app_auth_token=201510BBaabdb44d8fd04607abf8d5931ec75D84&app_id="))
        let (url, body) = request.encoded(gateway: "https://openapi.alipay.com/gateway.do", signature: "a+b/c=")
        XCTAssertFalse(url.contains("app_auth_token"))
        XCTAssertFalse(url.contains("biz_content"))
        XCTAssertTrue(url.hasPrefix("https://openapi.alipay.com/gateway.do?app_id=2014072300007148&charset=utf-8&format=JSON&method=alipay.trade.query&sign_type=RSA2&timestamp=2014-07-24%2003%3A07%3A50&version=1.0&sign=a%2Bb%2Fc%3D"), url)
        XCTAssertEqual(String(decoding: body, as: UTF8.self),
                       "app_auth_token=201510BBaabdb44d8fd04607abf8d5931ec75D84&biz_content=%7B%22out_trade_no%22%3A%221%22%7D")
    }

    /// RSA2 with the fixed key gives the signature computed once with `openssl dgst -sha256 -sign`.
    func testSignatureWithTheFixedKeyIsTheRecordedVector() throws {
        let key = try RSAPrivateKey(text: Self.testKeyPKCS1)
        XCTAssertEqual(key.bits, 2048)
        XCTAssertEqual(try Self.fixedRequest.signature(with: key),
                       "Ol+vxEz6eVK3nnW4jeW4QoKmoApGZNJPdoVB38mkrg+0/wtosOHhBnzPSr9ZDBWumpKehnAKaZST0p1t2xMjiLu4b5qO9AHlGQeQjKp+CivTfynNWBHmbnWEE+D+2ghiWBeSaFB5geeNzvRUERdZ2UQdrAjaG3r1t5P1a0sb6RsPFDsCp+OP7u0+A6E+Kv69AdSd03V0kqt3OIW3EKjMURUFhzdlhwVII5q3biCKiHxFfwVy6UiUKqA3Od3I1OsSFzCPHdjvaP4n6jNbWelThfgkWBnL1Sm3vrGW/CdLN/zNap8Ewl0RfNzzO7eigOn1Chv6obUbFQPTQRk3gRXQtw==")
    }

    /// The same signature as the openssl command line makes now, for a string with Chinese in it.
    func testSignatureMatchesTheOpenSSLCommandLine() throws {
        let dir = try temporaryDirectory()
        let keyFile = dir + "/key.pem"
        try Self.testKeyPKCS1.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let request = AlipayRequest(appID: "2021000000000001", method: "alipay.trade.pay",
                                    bizContent: AlipayJSON.object([("subject", .string("咖啡 \"大杯\"")), ("total_amount", .string("0.01"))]),
                                    timestamp: "2026-01-05 10:00:00")
        let cli = try run("/usr/bin/openssl", ["dgst", "-sha256", "-sign", keyFile], input: Array(request.stringToSign.utf8))
        XCTAssertEqual(try request.signature(with: RSAPrivateKey(text: Self.testKeyPKCS1)), Base64.encode(cli))
        // And openssl accepts ours.
        let sigFile = dir + "/sig.bin", pubFile = dir + "/pub.pem"
        try Data(Base64.decode(request.signature(with: RSAPrivateKey(text: Self.testKeyPKCS1)))!).write(to: URL(fileURLWithPath: sigFile))
        try Self.testPublicKey.write(toFile: pubFile, atomically: true, encoding: .utf8)
        let verified = try run("/usr/bin/openssl", ["dgst", "-sha256", "-verify", pubFile, "-signature", sigFile], input: Array(request.stringToSign.utf8))
        XCTAssertEqual(String(decoding: verified, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "Verified OK")
    }

    /// PKCS#1 PEM, PKCS#8 PEM and the bare base64 of either sign alike; SPKI PEM, PKCS#1 public PEM and
    /// bare base64 verify alike.
    func testEveryKeyFormatAlipayHandsOut() throws {
        let dir = try temporaryDirectory()
        try Self.testKeyPKCS1.write(toFile: dir + "/k1.pem", atomically: true, encoding: .utf8)
        let pkcs8 = String(decoding: try run("/usr/bin/openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", dir + "/k1.pem"]), as: UTF8.self)
        XCTAssertTrue(pkcs8.contains("BEGIN PRIVATE KEY"))
        let rsaPublic = String(decoding: try run("/usr/bin/openssl", ["rsa", "-in", dir + "/k1.pem", "-RSAPublicKey_out"]), as: UTF8.self)
        XCTAssertTrue(rsaPublic.contains("BEGIN RSA PUBLIC KEY"))
        func bare(_ pem: String) -> String {
            pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        }
        let message = Array("app_id=1&biz_content={}".utf8)
        let reference = try RSAPrivateKey(text: Self.testKeyPKCS1).signSHA256(message)
        for text in [pkcs8, bare(Self.testKeyPKCS1), bare(pkcs8), "  " + bare(pkcs8) + "\n"] {
            XCTAssertEqual(try RSAPrivateKey(text: text).signSHA256(message), reference)
        }
        for text in [Self.testPublicKey, rsaPublic, bare(Self.testPublicKey), bare(rsaPublic)] {
            let key = try RSAPublicKey(text: text)
            XCTAssertTrue(key.verifySHA256(message, signature: reference))
            XCTAssertFalse(key.verifySHA256(message + [0x20], signature: reference))
            var flipped = reference
            flipped[10] ^= 1
            XCTAssertFalse(key.verifySHA256(message, signature: flipped))
        }
    }

    func testUnusableKeysAreRefusedWithoutShowingThem() throws {
        let dir = try temporaryDirectory()
        _ = try run("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/ec.pem"])
        let ec = try String(contentsOfFile: dir + "/ec.pem", encoding: .utf8)
        XCTAssertThrowsError(try RSAPrivateKey(text: ec)) { XCTAssertEqual("\($0)", "the private key is not an RSA key") }
        XCTAssertThrowsError(try RSAPrivateKey(text: Self.testPublicKey))
        XCTAssertThrowsError(try RSAPublicKey(text: Self.testKeyPKCS1))
        XCTAssertThrowsError(try RSAPrivateKey(text: "not a key at all!"))
        let truncated = String(Self.testKeyPKCS1.dropLast(80)) + "\n-----END RSA PRIVATE KEY-----"
        XCTAssertThrowsError(try RSAPrivateKey(text: truncated)) { error in
            XCTAssertFalse("\(error)".contains("MIIE"), "an error must not carry key material")
        }
        let encrypted = String(decoding: try run("/usr/bin/openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:x", "-in", "/dev/stdin"],
                                                 input: Array(Self.testKeyPKCS1.utf8)), as: UTF8.self)
        XCTAssertThrowsError(try RSAPrivateKey(text: encrypted)) { XCTAssertTrue("\($0)".contains("encrypted")) }
    }

    func testBase64IsStrict() {
        XCTAssertEqual(Base64.encode(Array("any carnal pleas".utf8)), "YW55IGNhcm5hbCBwbGVhcw==")
        XCTAssertEqual(Base64.decode("YW55IGNhcm5hbCBwbGVhcw=="), Array("any carnal pleas".utf8))
        XCTAssertEqual(Base64.decode("YW55IGNhcm5hbCBwbGVhc3U="), Array("any carnal pleasu".utf8))
        XCTAssertEqual(Base64.decode(""), [])
        for bad in ["YW55IGNhcm5hbCBwbGVhcw=", "YW55IGNhcm5hbCBwbGVhcx==", "YW5=IGNh", "YW55 IGNh", "YW55IGNh!"] {
            XCTAssertNil(Base64.decode(bad), bad)
        }
        XCTAssertEqual(Base64.decode("YW55\nIGNh", ignoringWhitespace: true), Array("any ca".utf8))
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + n) & 0xFF) }
            XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
            XCTAssertEqual(Base64.encode(bytes), Data(bytes).base64EncodedString())
        }
    }
}

// MARK: - Helpers shared by the Alipay tests

extension XCTestCase {
    func temporaryDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("alipay-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Runs a command to its end (bounded) and returns its standard output; throws if it fails.
    func run(_ executable: String, _ arguments: [String], input: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let dir = try temporaryDirectory()
        let inFile = dir + "/in", outFile = dir + "/out"
        _ = FileManager.default.createFile(atPath: inFile, contents: Data(input))
        _ = FileManager.default.createFile(atPath: outFile, contents: nil)
        process.standardInput = FileHandle(forReadingAtPath: inFile)
        process.standardOutput = FileHandle(forWritingAtPath: outFile)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { process.terminate() }
        while process.isRunning { Thread.sleep(forTimeInterval: 0.01) }
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "run", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments) failed"])
        }
        return Array(try Data(contentsOf: URL(fileURLWithPath: outFile)))
    }
}
