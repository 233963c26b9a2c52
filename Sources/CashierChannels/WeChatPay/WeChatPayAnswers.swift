import CashierCore

/// What WeChat Pay's answers mean in our terms. Pure: verified fields in, our states out (docs/CHANNELS.md
/// has the same tables for people). Nothing here is reached by an answer that has not passed `verified`.
public enum WeChatPayAnswers {
    // MARK: - Verification

    /// The identity an answer must carry.
    public struct Merchant: Sendable, Equatable {
        public var appID: String
        public var merchantID: String
        public var subMerchantID: String?

        public init(appID: String, merchantID: String, subMerchantID: String? = nil) {
            self.appID = appID; self.merchantID = merchantID; self.subMerchantID = subMerchantID
        }
    }

    /// The fields of an answer, once it is readable, says the call was taken (`return_code` SUCCESS),
    /// carries a signature that is ours under `key`, and names our merchant.
    /// - Throws: `.unverifiedAnswer` for an unreadable, unsigned, wrongly signed or foreign answer;
    ///   `.refused` when the provider refused the call itself (`return_code` FAIL: such answers are not
    ///   signed, so nothing else in them is read).
    public static func verified(_ body: [UInt8], call: String, key: String, signType: WeChatPaySignType,
                                merchant: Merchant) throws(ChannelError) -> [String: String] {
        let fields: [String: String]
        do {
            fields = try WeChatPayXML.decode(body)
        } catch {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay \(call): \(error.description)")
        }
        switch fields["return_code"] {
        case "SUCCESS":
            break
        case "FAIL":
            throw ChannelError(.refused, "WeChat Pay \(call) refused the call: \(providerText(fields["return_msg"]))")
        default:
            throw ChannelError(.unverifiedAnswer, "WeChat Pay \(call): the answer has no return_code")
        }
        guard WeChatPaySignature.verify(fields, key: key, signType: signType) else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay \(call): the answer's signature does not verify; ignored")
        }
        guard fields["appid"] == merchant.appID, fields["mch_id"] == merchant.merchantID else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay \(call): the answer names another appid or mch_id; ignored")
        }
        if let sub = merchant.subMerchantID, fields["sub_mch_id"] != sub {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay \(call): the answer names another sub_mch_id; ignored")
        }
        return fields
    }

    // MARK: - Pay (pay/micropay)

    /// `err_code`s of a pay that refuse the payment for good, and our reason for each.
    public static let payDeclines: [String: DeclineReason] = [
        "AUTHCODEEXPIRE": .codeExpired,
        "NOTENOUGH": .insufficientFunds,
        "AUTH_CODE_INVALID": .codeInvalid,
        "AUTH_CODE_ERROR": .codeInvalid,
        "ORDERCLOSED": .orderClosed,
        "ORDERREVERSED": .orderReversed,
        "BUYER_MISMATCH": .buyerMismatch,
        "NOTSUPORTCARD": .buyerRestricted,
        "TRADE_ERROR": .buyerRestricted,
    ]
    /// `err_code`s of a pay whose outcome the provider does not know yet: wait, then query.
    public static let payUnknown: Set<String> = ["SYSTEMERROR", "BANKERROR"]
    /// `err_code`s that say an order under this number already exists: its state is learnt by a query.
    public static let payAnsweredByQuery: Set<String> = ["ORDERPAID", "OUT_TRADE_NO_USED"]
    /// `err_code`s that refuse the call itself (credentials, parameters, permissions): a set-up problem.
    public static let setUpProblems: Set<String> = [
        "NOAUTH", "PARAM_ERROR", "SIGNERROR", "LACK_PARAMS", "APPID_NOT_EXIST", "MCHID_NOT_EXIST",
        "APPID_MCHID_NOT_MATCH", "XML_FORMAT_ERROR", "REQUIRE_POST_METHOD", "NOT_UTF8", "POST_DATA_EMPTY",
        "SUB_MCH_ID_NOT_EXIST",
    ]

    public enum PayVerdict: Sendable, Equatable {
        case state(ChannelPaymentState)
        /// The order exists at the provider; report what a query says.
        case askQuery(code: String)
    }

    public static func payVerdict(_ f: [String: String], outTradeNo: String, amount: Int64) throws(ChannelError) -> PayVerdict {
        if f["result_code"] == "SUCCESS" {
            guard f["out_trade_no"] == outTradeNo else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay pay: the answer is for another order; ignored")
            }
            guard let txn = f["transaction_id"], !txn.isEmpty else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay pay: paid without a transaction_id; ignored")
            }
            if let fee = f["total_fee"], Int64(fee) != amount {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay pay: paid a total_fee other than asked; ignored")
            }
            return .state(.paid(txn: txn))
        }
        guard f["result_code"] == "FAIL", let code = f["err_code"], !code.isEmpty else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay pay: the answer has neither a result nor an err_code")
        }
        if code == "USERPAYING" { return .state(.userConfirming) }
        if payUnknown.contains(code) { return .state(.unknown) }
        if payAnsweredByQuery.contains(code) { return .askQuery(code: code) }
        if setUpProblems.contains(code) {
            throw ChannelError(.refused, "WeChat Pay pay refused the call: \(described(code, f["err_code_des"]))")
        }
        let reason = payDeclines[code] ?? .channelDeclined
        return .state(.declined(reason: reason.rawValue, message: declineMessage(reason, code: code, des: f["err_code_des"])))
    }

    // MARK: - Query (pay/orderquery)

    /// `trade_state` → our state. REFUND: the money was taken and a refund exists, so still paid. NOTPAY,
    /// ACCEPT, PAYERROR and anything new: not decided for us — asked again, and reversed at the deadline
    /// (the provider's closed-loop rule: a payment-code order must end SUCCESS, CLOSED or REVOKED).
    public static func queryState(_ f: [String: String], outTradeNo: String) throws(ChannelError) -> ChannelPaymentState {
        if f["result_code"] == "FAIL" {
            let code = f["err_code"] ?? ""
            switch code {
            case "ORDERNOTEXIST": return .notFound
            case "SYSTEMERROR", "BANKERROR": return .unknown
            default:
                throw ChannelError(.refused, "WeChat Pay query refused the call: \(described(code, f["err_code_des"]))")
            }
        }
        guard f["result_code"] == "SUCCESS", let state = f["trade_state"] else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay query: the answer has no trade_state")
        }
        guard f["out_trade_no"] == outTradeNo else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay query: the answer is for another order; ignored")
        }
        switch state {
        case "SUCCESS", "REFUND":
            guard let txn = f["transaction_id"], !txn.isEmpty else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay query: paid without a transaction_id; ignored")
            }
            return .paid(txn: txn)
        case "USERPAYING":
            return .userConfirming
        case "CLOSED":
            return .declined(reason: DeclineReason.orderClosed.rawValue,
                             message: declineMessage(.orderClosed, code: "CLOSED", des: f["trade_state_desc"]))
        case "REVOKED":
            return .reversed
        default:
            return .unknown
        }
    }

    // MARK: - Reverse (secapi/pay/reverse)

    public enum ReverseVerdict: Sendable, Equatable {
        case done
        /// `recall=Y` or a passing error: call again after a pause.
        case callAgain(String)
    }

    public static func reverseVerdict(_ f: [String: String]) throws(ChannelError) -> ReverseVerdict {
        let recall = f["recall"] == "Y"
        if f["result_code"] == "SUCCESS" { return recall ? .callAgain("recall=Y") : .done }
        guard f["result_code"] == "FAIL" else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay reverse: the answer has no result_code")
        }
        let code = f["err_code"] ?? ""
        if recall { return .callAgain("\(code) recall=Y") }
        switch code {
        case "SYSTEMERROR", "BANKERROR", "USERPAYING": return .callAgain(code)
        // Nothing under this number at the provider: nothing to reverse.
        case "ORDERNOTEXIST": return .done
        case "REVERSE_EXPIRE":
            throw ChannelError(.refused, "WeChat Pay reverse: REVERSE_EXPIRE — older than reverse allows (7 days); refund instead")
        default:
            throw ChannelError(.refused, "WeChat Pay reverse refused: \(described(code, f["err_code_des"]))")
        }
    }

    // MARK: - Refund (secapi/pay/refund, pay/refundquery)

    /// Stable reasons of a refused refund.
    public enum RefundRefusal: String, Sendable, CaseIterable {
        case orderNotPaid = "ORDER_NOT_PAID"
        case refundPeriodOver = "REFUND_PERIOD_OVER"
        case merchantBalanceLow = "MERCHANT_BALANCE_LOW"
        case buyerAccountAbnormal = "BUYER_ACCOUNT_ABNORMAL"
        case refundClosed = "REFUND_CLOSED"
        case channelRefused = "CHANNEL_REFUSED"
    }

    public static let refundRefusals: [String: RefundRefusal] = [
        "NOTENOUGH": .merchantBalanceLow,
        "TRADE_OVERDUE": .refundPeriodOver,
        "USER_ACCOUNT_ABNORMAL": .buyerAccountAbnormal,
        "ORDERNOTEXIST": .orderNotPaid,
        "INVALID_TRANSACTIONID": .orderNotPaid,
        "ERROR": .channelRefused,
    ]
    /// Passing refusals of a refund: send it again later (the refund number keeps it single).
    public static let refundPassing: Set<String> = ["SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED", "INVALID_REQ_TOO_MUCH"]

    public enum RefundVerdict: Sendable, Equatable {
        /// Taken; not yet known to be done ("accepted" is not "refunded").
        case accepted
        case state(ChannelRefundState)
    }

    public static func refundVerdict(_ f: [String: String], refundNo: String, outTradeNo: String) throws(ChannelError) -> RefundVerdict {
        if f["result_code"] == "SUCCESS" {
            guard f["out_refund_no"] == refundNo, f["out_trade_no"] == outTradeNo else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay refund: the answer is for another refund; ignored")
            }
            return .accepted
        }
        guard f["result_code"] == "FAIL", let code = f["err_code"], !code.isEmpty else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay refund: the answer has neither a result nor an err_code")
        }
        if refundPassing.contains(code) {
            throw ChannelError(.notYet, "WeChat Pay refund: \(code); send it again later under the same refund number")
        }
        if setUpProblems.contains(code) {
            throw ChannelError(.refused, "WeChat Pay refund refused the call: \(described(code, f["err_code_des"]))")
        }
        let reason = refundRefusals[code] ?? .channelRefused
        return .state(.refused(reason: reason.rawValue, message: "WeChat Pay: \(described(code, f["err_code_des"]))"))
    }

    /// `refund_status_$n` of our refund → our state. CHANGE (the bank refused the way back; the merchant
    /// must settle it in the merchant platform) stays pending: it is neither done nor undone.
    public static func refundQueryState(_ f: [String: String], refundNo: String, outTradeNo: String) throws(ChannelError) -> ChannelRefundState {
        if f["result_code"] == "FAIL" {
            let code = f["err_code"] ?? ""
            switch code {
            case "REFUNDNOTEXIST", "ORDERNOTEXIST": return .notFound
            case "SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED":
                throw ChannelError(.notYet, "WeChat Pay refund query: \(code); ask again later")
            default:
                throw ChannelError(.refused, "WeChat Pay refund query refused the call: \(described(code, f["err_code_des"]))")
            }
        }
        guard f["result_code"] == "SUCCESS" else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay refund query: the answer has no result_code")
        }
        guard f["out_trade_no"] == outTradeNo else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay refund query: the answer is for another order; ignored")
        }
        let count = Int(f["refund_count"] ?? "") ?? 0
        guard (0...WeChatPayXML.maxFields).contains(count) else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay refund query: an impossible refund_count")
        }
        for n in 0..<count where f["out_refund_no_\(n)"] == refundNo {
            switch f["refund_status_\(n)"] {
            case "SUCCESS": return .succeeded
            case "REFUNDCLOSE":
                return .refused(reason: RefundRefusal.refundClosed.rawValue, message: "WeChat Pay: REFUNDCLOSE (the refund was closed)")
            default: return .processing  // PROCESSING, CHANGE, anything new
            }
        }
        throw ChannelError(.unverifiedAnswer, "WeChat Pay refund query: the answer does not list our refund; ignored")
    }

    // MARK: - Text

    static func declineMessage(_ reason: DeclineReason, code: String, des: String?) -> String {
        let detail = providerText(des)
        return "\(reason.message) (WeChat Pay \(code)\(detail.isEmpty ? "" : ": " + detail))"
    }

    /// `CODE description`, or the code alone.
    static func described(_ code: String, _ des: String?) -> String {
        let text = providerText(des)
        return text.isEmpty ? code : "\(code) \(text)"
    }

    /// Provider text fit for a log line: no control characters, at most 120 characters.
    static func providerText(_ text: String?) -> String {
        guard let text else { return "" }
        let clean = text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) }
        return String(clean.prefix(120))
    }
}
