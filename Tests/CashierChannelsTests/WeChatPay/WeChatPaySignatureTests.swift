import CashierChannels
import CashierCrypto
import XCTest

/// The signature exactly as WeChat Pay publishes it, checked against the provider's own example.
final class WeChatPaySignatureTests: XCTestCase {
    /// The provider's published example (the signature page of the v2 API).
    let example: [(String, String)] = [
        ("appid", "wxd930ea5d5a258f4f"), ("mch_id", "10000100"), ("device_info", "1000"),
        ("body", "test"), ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ]
    let key = "192006250b4c09247ec02edce69f6a2d"

    func testPublishedExampleMD5() {
        XCTAssertEqual(WeChatPaySignature.stringA(example),
                       "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA")
        XCTAssertEqual(WeChatPaySignature.sign(example, key: key, signType: .md5), "9A0A8659F005D6984697E2CA0A9CF3B7")
    }

    /// HMAC-SHA256 of the same example, computed independently with Python:
    /// `hmac.new(key.encode(), stringSignTemp.encode(), hashlib.sha256).hexdigest().upper()`.
    func testPublishedExampleHMACSHA256() {
        XCTAssertEqual(WeChatPaySignature.sign(example, key: key, signType: .hmacSHA256),
                       "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")
    }

    func testEmptyValuesAndSignDoNotTakePartAndOrderIsByBytes() {
        let withExtras = example + [("sign", "WHATEVER"), ("attach", ""), ("sign_type", "")]
        XCTAssertEqual(WeChatPaySignature.sign(withExtras, key: key, signType: .md5), "9A0A8659F005D6984697E2CA0A9CF3B7")
        // ASCII order: upper case before `_` before lower case; names are case-sensitive.
        XCTAssertEqual(WeChatPaySignature.stringA([("a_b", "1"), ("aB", "2"), ("ab", "3"), ("A", "4")]), "A=4&aB=2&a_b=1&ab=3")
        // Values are used as they are: no URL encoding, spaces and non-ASCII kept.
        XCTAssertEqual(WeChatPaySignature.stringA([("body", "咖啡 & 茶")]), "body=咖啡 & 茶")
    }

    func testVerifyChecksEveryFieldIncludingUnknownOnes() {
        var fields = Dictionary(uniqueKeysWithValues: example)
        fields["some_new_field"] = "x"
        fields["sign"] = WeChatPaySignature.sign(fields, key: key, signType: .md5)
        XCTAssertTrue(WeChatPaySignature.verify(fields, key: key, signType: .md5))
        XCTAssertFalse(WeChatPaySignature.verify(fields, key: key, signType: .hmacSHA256))
        XCTAssertFalse(WeChatPaySignature.verify(fields, key: String(key.reversed()), signType: .md5))
        var tampered = fields
        tampered["some_new_field"] = "y"
        XCTAssertFalse(WeChatPaySignature.verify(tampered, key: key, signType: .md5))
        var unsigned = fields
        unsigned["sign"] = nil
        XCTAssertFalse(WeChatPaySignature.verify(unsigned, key: key, signType: .md5))
    }

    func testExplainShowsTheStringWithTheKeyMasked() {
        let explained = WeChatPaySignature.explain(parameters: example, key: key, signType: .md5)
        XCTAssertEqual(explained.stringSignTemp,
                       "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=***")
        XCTAssertEqual(explained.sign, "9A0A8659F005D6984697E2CA0A9CF3B7")
        XCTAssertFalse(explained.stringSignTemp.contains(key))
        XCTAssertEqual(WeChatPaySignature.explain(parameters: example, key: key, signType: .hmacSHA256).sign,
                       "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")
    }

    func testDigestHelpers() {
        // RFC 1321's test suite.
        XCTAssertEqual(Hex.encodeUpper(Crypto.md5([])), "D41D8CD98F00B204E9800998ECF8427E")
        XCTAssertEqual(Crypto.md5UpperHex("abc"), "900150983CD24FB0D6963F7D28E17F72")
        // RFC 4231 test case 2.
        XCTAssertEqual(Crypto.hmacSHA256UpperHex(key: "Jefe", message: "what do ya want for nothing?"),
                       "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843")
    }
}
