import CashierChannels
import CashierCore
import XCTest

/// What the provider's answers mean in our terms, and what is believed at all.
final class WeChatPayAnswersTests: XCTestCase {
    let key = "192006250b4c09247ec02edce69f6a2d"
    let merchant = WeChatPayAnswers.Merchant(appID: "wx2421b1c4370ec43b", merchantID: "10000100")

    func signed(_ fields: [String: String], signType: WeChatPaySignType = .md5) -> [UInt8] {
        var all = ["return_code": "SUCCESS", "return_msg": "OK", "appid": merchant.appID, "mch_id": merchant.merchantID,
                   "nonce_str": "n0nce"].merging(fields) { _, new in new }
        all["sign"] = WeChatPaySignature.sign(all, key: key, signType: signType)
        return try! WeChatPayXML.encode(all.sorted { $0.key < $1.key })
    }

    func verify(_ body: [UInt8], signType: WeChatPaySignType = .md5) throws -> [String: String] {
        try WeChatPayAnswers.verified(body, call: "pay", key: key, signType: signType, merchant: merchant)
    }

    func kind(_ body: () throws -> Any) -> ChannelError.Kind? {
        do { _ = try body(); return nil } catch let e as ChannelError { return e.kind } catch { return nil }
    }

    func payVerdict(_ fields: [String: String], amount: Int64 = 100) throws -> WeChatPayAnswers.PayVerdict {
        try WeChatPayAnswers.payVerdict(try verify(signed(fields)), outTradeNo: "o1", amount: amount)
    }

    // MARK: - Verification

    func testOnlyAGenuineAnswerForOurMerchantIsBelieved() throws {
        let genuine = signed(["result_code": "SUCCESS", "out_trade_no": "o1", "transaction_id": "42"])
        XCTAssertEqual(try verify(genuine)["transaction_id"], "42")
        XCTAssertEqual(kind { try self.verify(genuine, signType: .hmacSHA256) }, .unverifiedAnswer)

        // The same answer with one field changed after signing.
        var text = String(decoding: genuine, as: UTF8.self)
        text = text.replacingOccurrences(of: "<transaction_id>42</transaction_id>", with: "<transaction_id>43</transaction_id>")
        XCTAssertEqual(kind { try self.verify(Array(text.utf8)) }, .unverifiedAnswer)

        // Signed with the right key but for another merchant.
        var foreign = ["return_code": "SUCCESS", "appid": "wx0000000000000000", "mch_id": "10000100", "result_code": "SUCCESS"]
        foreign["sign"] = WeChatPaySignature.sign(foreign, key: key, signType: .md5)
        XCTAssertEqual(kind { try self.verify(try WeChatPayXML.encode(foreign.sorted { $0.key < $1.key })) }, .unverifiedAnswer)

        // No signature, garbage, an HTML error page, nothing.
        XCTAssertEqual(kind { try self.verify(Array("<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code></xml>".utf8)) }, .unverifiedAnswer)
        XCTAssertEqual(kind { try self.verify(Array("<html>502 Bad Gateway</html>".utf8)) }, .unverifiedAnswer)
        XCTAssertEqual(kind { try self.verify([]) }, .unverifiedAnswer)
        // The provider refusing the call itself: never signed, a set-up problem, never a decline.
        XCTAssertEqual(kind { try self.verify(Array("<xml><return_code>FAIL</return_code><return_msg>签名错误</return_msg></xml>".utf8)) }, .refused)
    }

    func testASubMerchantMustMatchToo() throws {
        let sub = WeChatPayAnswers.Merchant(appID: merchant.appID, merchantID: merchant.merchantID, subMerchantID: "1900000109")
        let body = signed(["result_code": "SUCCESS", "sub_mch_id": "1900000110"])
        XCTAssertThrowsError(try WeChatPayAnswers.verified(body, call: "pay", key: key, signType: .md5, merchant: sub))
        XCTAssertNoThrow(try WeChatPayAnswers.verified(signed(["result_code": "SUCCESS", "sub_mch_id": "1900000109"]),
                                                       call: "pay", key: key, signType: .md5, merchant: sub))
    }

    // MARK: - Pay

    func testPayMapping() throws {
        XCTAssertEqual(try payVerdict(["result_code": "SUCCESS", "out_trade_no": "o1", "transaction_id": "4200", "total_fee": "100"]),
                       .state(.paid(txn: "4200")))
        XCTAssertEqual(try payVerdict(["result_code": "FAIL", "err_code": "USERPAYING"]), .state(.userConfirming))
        XCTAssertEqual(try payVerdict(["result_code": "FAIL", "err_code": "SYSTEMERROR"]), .state(.unknown))
        XCTAssertEqual(try payVerdict(["result_code": "FAIL", "err_code": "BANKERROR"]), .state(.unknown))
        XCTAssertEqual(try payVerdict(["result_code": "FAIL", "err_code": "ORDERPAID"]), .askQuery(code: "ORDERPAID"))
        let declines: [(String, DeclineReason)] = [
            ("AUTHCODEEXPIRE", .codeExpired), ("NOTENOUGH", .insufficientFunds), ("AUTH_CODE_INVALID", .codeInvalid),
            ("AUTH_CODE_ERROR", .codeInvalid), ("ORDERCLOSED", .orderClosed), ("ORDERREVERSED", .orderReversed),
            ("BUYER_MISMATCH", .buyerMismatch), ("NOTSUPORTCARD", .buyerRestricted), ("TRADE_ERROR", .buyerRestricted),
            ("SOMETHING_NEW", .channelDeclined),
        ]
        for (code, reason) in declines {
            guard case .state(.declined(let got, let message)) = try payVerdict(["result_code": "FAIL", "err_code": code, "err_code_des": "说明"]) else {
                XCTFail("\(code) is not a decline"); continue
            }
            XCTAssertEqual(got, reason.rawValue, code)
            XCTAssertTrue(message.contains(code) && message.contains(reason.message), message)
        }
        for code in ["SIGNERROR", "NOAUTH", "APPID_NOT_EXIST", "PARAM_ERROR"] {
            XCTAssertEqual(kind { try self.payVerdict(["result_code": "FAIL", "err_code": code]) }, .refused, code)
        }
    }

    func testAPaidAnswerThatDoesNotAddUpIsNotBelieved() {
        // Another order, no transaction id, another amount: unverified, never paid.
        XCTAssertEqual(kind { try self.payVerdict(["result_code": "SUCCESS", "out_trade_no": "o2", "transaction_id": "1"]) }, .unverifiedAnswer)
        XCTAssertEqual(kind { try self.payVerdict(["result_code": "SUCCESS", "out_trade_no": "o1"]) }, .unverifiedAnswer)
        XCTAssertEqual(kind { try self.payVerdict(["result_code": "SUCCESS", "out_trade_no": "o1", "transaction_id": "1", "total_fee": "1"]) }, .unverifiedAnswer)
        XCTAssertEqual(kind { try self.payVerdict(["result_code": "FAIL"]) }, .unverifiedAnswer)
    }

    // MARK: - Query

    func testQueryMapping() throws {
        func state(_ fields: [String: String]) throws -> ChannelPaymentState {
            try WeChatPayAnswers.queryState(try verify(signed(fields)), outTradeNo: "o1")
        }
        let paid = ["result_code": "SUCCESS", "out_trade_no": "o1", "transaction_id": "4200"]
        XCTAssertEqual(try state(paid.merging(["trade_state": "SUCCESS"]) { $1 }), .paid(txn: "4200"))
        XCTAssertEqual(try state(paid.merging(["trade_state": "REFUND"]) { $1 }), .paid(txn: "4200"), "refunded money was taken first")
        let base = ["result_code": "SUCCESS", "out_trade_no": "o1"]
        XCTAssertEqual(try state(base.merging(["trade_state": "USERPAYING"]) { $1 }), .userConfirming)
        XCTAssertEqual(try state(base.merging(["trade_state": "REVOKED"]) { $1 }), .reversed)
        XCTAssertEqual(try state(base.merging(["trade_state": "NOTPAY"]) { $1 }), .unknown)
        XCTAssertEqual(try state(base.merging(["trade_state": "PAYERROR"]) { $1 }), .unknown, "reversed at the deadline, never assumed")
        guard case .declined(let reason, _) = try state(base.merging(["trade_state": "CLOSED"]) { $1 }) else { return XCTFail() }
        XCTAssertEqual(reason, "CLOSED")
        XCTAssertEqual(try state(["result_code": "FAIL", "err_code": "ORDERNOTEXIST"]), .notFound)
        XCTAssertEqual(try state(["result_code": "FAIL", "err_code": "SYSTEMERROR"]), .unknown)
        XCTAssertEqual(kind { try state(paid.merging(["trade_state": "SUCCESS", "out_trade_no": "o9"]) { $1 }) }, .unverifiedAnswer)
    }

    // MARK: - Reverse and refunds

    func testReverseMapping() throws {
        func verdict(_ fields: [String: String]) throws -> WeChatPayAnswers.ReverseVerdict {
            try WeChatPayAnswers.reverseVerdict(try verify(signed(fields)))
        }
        XCTAssertEqual(try verdict(["result_code": "SUCCESS", "recall": "N"]), .done)
        XCTAssertEqual(try verdict(["result_code": "SUCCESS", "recall": "Y"]), .callAgain("recall=Y"))
        XCTAssertEqual(try verdict(["result_code": "FAIL", "err_code": "SYSTEMERROR", "recall": "Y"]), .callAgain("SYSTEMERROR recall=Y"))
        XCTAssertEqual(try verdict(["result_code": "FAIL", "err_code": "USERPAYING"]), .callAgain("USERPAYING"))
        XCTAssertEqual(try verdict(["result_code": "FAIL", "err_code": "ORDERNOTEXIST"]), .done)
        XCTAssertEqual(kind { try verdict(["result_code": "FAIL", "err_code": "REVERSE_EXPIRE", "recall": "N"]) }, .refused)
    }

    func testRefundMapping() throws {
        func verdict(_ fields: [String: String]) throws -> WeChatPayAnswers.RefundVerdict {
            try WeChatPayAnswers.refundVerdict(try verify(signed(fields)), refundNo: "R1", outTradeNo: "o1")
        }
        XCTAssertEqual(try verdict(["result_code": "SUCCESS", "out_trade_no": "o1", "out_refund_no": "R1"]), .accepted)
        XCTAssertEqual(kind { try verdict(["result_code": "SUCCESS", "out_trade_no": "o1", "out_refund_no": "R2"]) }, .unverifiedAnswer)
        XCTAssertEqual(try verdict(["result_code": "FAIL", "err_code": "NOTENOUGH"]),
                       .state(.refused(reason: "MERCHANT_BALANCE_LOW", message: "WeChat Pay: NOTENOUGH")))
        XCTAssertEqual(kind { try verdict(["result_code": "FAIL", "err_code": "SYSTEMERROR"]) }, .notYet)
        XCTAssertEqual(kind { try verdict(["result_code": "FAIL", "err_code": "BIZERR_NEED_RETRY"]) }, .notYet)

        func query(_ fields: [String: String]) throws -> ChannelRefundState {
            try WeChatPayAnswers.refundQueryState(try verify(signed(fields)), refundNo: "R1", outTradeNo: "o1")
        }
        let listed = ["result_code": "SUCCESS", "out_trade_no": "o1", "refund_count": "2", "out_refund_no_0": "R0",
                      "refund_status_0": "SUCCESS", "out_refund_no_1": "R1"]
        XCTAssertEqual(try query(listed.merging(["refund_status_1": "PROCESSING"]) { $1 }), .processing)
        XCTAssertEqual(try query(listed.merging(["refund_status_1": "SUCCESS"]) { $1 }), .succeeded)
        XCTAssertEqual(try query(listed.merging(["refund_status_1": "CHANGE"]) { $1 }), .processing)
        guard case .refused(let reason, _) = try query(listed.merging(["refund_status_1": "REFUNDCLOSE"]) { $1 }) else { return XCTFail() }
        XCTAssertEqual(reason, "REFUND_CLOSED")
        XCTAssertEqual(try query(["result_code": "FAIL", "err_code": "REFUNDNOTEXIST"]), .notFound)
        XCTAssertEqual(kind { try query(listed.merging(["out_refund_no_1": "R9"]) { $1 }) }, .unverifiedAnswer)
    }
}
