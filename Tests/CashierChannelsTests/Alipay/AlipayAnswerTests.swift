import CashierChannels
import CashierCrypto
import Foundation
import XCTest

/// Answers are verified over the response object's bytes exactly as they came, never re-serialised.
final class AlipayAnswerTests: XCTestCase {
    /// "Alipay's" key for these tests is the fixed test key.
    let alipayPrivate = try! RSAPrivateKey(text: AlipaySigningTests.testKeyPKCS1)
    let alipayPublic = try! RSAPublicKey(text: AlipaySigningTests.testPublicKey)

    /// An answer as Alipay writes it: the object's text, then the signature over that text.
    func answer(_ node: String, _ object: String, spacing: String = "") throws -> [UInt8] {
        let sign = Base64.encode(try alipayPrivate.signSHA256(Array(object.utf8)))
        return Array("{\(spacing)\"\(node)\"\(spacing):\(spacing)\(object)\(spacing),\(spacing)\"sign\":\"\(sign)\"}".utf8)
    }

    /// Spacing, key order and escapes as Java's JSON writer leaves them, Chinese, a nested list, a brace in a string.
    let object = #"{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"6823789339978248","fund_bill_list":[{"fund_channel":"ALIPAYACCOUNT","amount":"88.88"}],"buyer_logon_id":"159****5620","subject":"咖啡 {大杯} \"热\"","total_amount":"88.88","gmt_payment":"2014-11-27 15:45:57"}"#

    func testTheExactObjectBytesAreExtractedAndVerified() throws {
        for spacing in ["", " ", "\n  "] {
            let body = try answer("alipay_trade_pay_response", object, spacing: spacing)
            let read = try AlipayAnswer.read(body, method: "alipay.trade.pay")
            XCTAssertEqual(read.node, "alipay_trade_pay_response")
            XCTAssertEqual(read.signedContent, Array(object.utf8))
            XCTAssertTrue(read.isSigned(by: alipayPublic))
            XCTAssertEqual(read.code, "10000")
            XCTAssertEqual(read.fields["trade_no"], "2013112011001004330000121536")
            XCTAssertEqual(read.fields["subject"], "咖啡 {大杯} \"热\"")
        }
    }

    /// The same object written again (other spacing, other key order) is not what Alipay signed.
    func testAReserialisedObjectFailsVerification() throws {
        let body = try answer("alipay_trade_pay_response", object)
        let parsed = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
        for options: JSONSerialization.WritingOptions in [[.sortedKeys], [.prettyPrinted], [.sortedKeys, .withoutEscapingSlashes]] {
            let rewritten = try JSONSerialization.data(withJSONObject: parsed, options: options)
            let read = try AlipayAnswer.read(Array(rewritten), method: "alipay.trade.pay")
            XCTAssertEqual(read.code, "10000")
            XCTAssertFalse(read.isSigned(by: alipayPublic), "a re-serialised answer must not verify (options \(options))")
        }
    }

    func testATamperedObjectOrSignatureFails() throws {
        let body = String(decoding: try answer("alipay_trade_query_response", object), as: UTF8.self)
        let changedAmount = body.replacingOccurrences(of: #""total_amount":"88.88""#, with: #""total_amount":"88.89""#)
        XCTAssertFalse(try AlipayAnswer.read(Array(changedAmount.utf8), method: "alipay.trade.query").isSigned(by: alipayPublic))
        let changedSpace = body.replacingOccurrences(of: #""msg":"Success""#, with: #""msg": "Success""#)
        XCTAssertFalse(try AlipayAnswer.read(Array(changedSpace.utf8), method: "alipay.trade.query").isSigned(by: alipayPublic))
        var signature = try AlipayAnswer.read(Array(body.utf8), method: "alipay.trade.query")
        XCTAssertTrue(signature.isSigned(by: alipayPublic))
        signature.sign = String(signature.sign!.dropLast(4)) + "AAA="
        XCTAssertFalse(signature.isSigned(by: alipayPublic))
        signature.sign = "not base64!"
        XCTAssertFalse(signature.isSigned(by: alipayPublic))
        // Signed by another key.
        let other = try RSAPrivateKey(text: String(decoding: try run("/usr/bin/openssl", ["genrsa", "2048"]), as: UTF8.self))
        let foreign = "{\"alipay_trade_query_response\":\(object),\"sign\":\"\(Base64.encode(try other.signSHA256(Array(object.utf8))))\"}"
        XCTAssertFalse(try AlipayAnswer.read(Array(foreign.utf8), method: "alipay.trade.query").isSigned(by: alipayPublic))
    }

    func testUnsignedGatewayErrorsAreReadButCarryNoSignature() throws {
        let body = #"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}"#
        let read = try AlipayAnswer.read(Array(body.utf8), method: "alipay.trade.pay")
        XCTAssertEqual(read.node, "error_response")
        XCTAssertNil(read.sign)
        XCTAssertEqual(read.subCode, "isv.invalid-signature")
        XCTAssertFalse(read.isSigned(by: alipayPublic))
    }

    func testAnswersThatCannotBeReadAreRefused() throws {
        let good = String(decoding: try answer("alipay_trade_pay_response", object), as: UTF8.self)
        let bad: [String] = [
            "",
            "<html>502 Bad Gateway</html>",
            #"{"alipay_trade_query_response":{"code":"10000"},"sign":"x"}"#,      // another method's answer
            #"{"alipay_trade_pay_response":"10000","sign":"x"}"#,                 // not an object
            good + " x",                                                          // trailing bytes
            String(good.dropLast()),                                              // truncated
            good.replacingOccurrences(of: #","sign":"#, with: #","alipay_trade_pay_response":{},"sign":"#),  // two objects
            #"{"alipay_trade_pay_response":{"code":"10000"},"sign":"a","sign":"b"}"#,                    // two signatures
            #"{"alipay_trade_pay_response":{"code":"10000"},"error_response":{"code":"40002"}}"#,          // both nodes
        ]
        for text in bad {
            XCTAssertThrowsError(try AlipayAnswer.read(Array(text.utf8), method: "alipay.trade.pay"), text)
        }
    }
}
