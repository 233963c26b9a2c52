import CashierCore

/// Alipay's answer codes in our terms: pure tables (docs/CHANNELS.md, "Alipay", has them as a table).
///
/// `code` is the gateway's: `10000` done, `10003` waiting for the buyer (pay only), `20000` the service
/// does not know (ask again), `40004` a business failure whose `sub_code` says why, and `20001`,
/// `40001`, `40002`, `40003`, `40006` refusals of the call itself (credentials, parameters, rights).
public enum AlipayMapping {
    /// Codes that mean the call itself was refused: a set-up problem, not a payment outcome.
    public static let refusalCodes: Set<String> = ["20001", "40001", "40002", "40003", "40006"]

    /// What a `40004` on `alipay.trade.pay` means.
    public enum PayFailure: Equatable, Sendable {
        case declined(DeclineReason)
        /// Alipay does not know (`ACQ.SYSTEM_ERROR`): ask by query, never guess.
        case unknown
        /// The order is already paid (`ACQ.TRADE_HAS_SUCCESS`, a repeated pay): ask by query for the trade number.
        case alreadyPaid
    }

    public static func payFailure(subCode: String) -> PayFailure {
        switch subCode {
        case "ACQ.SYSTEM_ERROR": return .unknown
        case "ACQ.TRADE_HAS_SUCCESS": return .alreadyPaid
        case "ACQ.PAYMENT_AUTH_CODE_INVALID": return .declined(.codeInvalid)
        case "ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": return .declined(.insufficientFunds)
        case "ACQ.TRADE_HAS_CLOSE": return .declined(.orderClosed)
        case "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
             "ACQ.BEYOND_PAY_RESTRICTION", "ACQ.BEYOND_PER_RECEIPT_RESTRICTION":
            return .declined(.limitExceeded)
        case "ACQ.BUYER_ENABLE_STATUS_FORBID", "ACQ.ERROR_BALANCE_PAYMENT_DISABLE", "ACQ.MOBILE_PAYMENT_SWITCH_OFF",
             "ACQ.PAYMENT_REQUEST_HAS_RISK":
            return .declined(.buyerRestricted)
        default: return .declined(.channelDeclined)
        }
    }

    /// The decline as the channel interface carries it: our code, and the cashier's sentence with
    /// Alipay's own code after it, so nothing is lost (`sub_msg` is left out: it can echo the request).
    public static func declined(_ reason: DeclineReason, subCode: String) -> ChannelPaymentState {
        .declined(reason: reason.rawValue, message: subCode.isEmpty ? reason.message : "\(reason.message) (Alipay \(subCode))")
    }

    /// `trade_status` of a `10000` query answer. `TRADE_CLOSED` means closed unpaid, cancelled, or
    /// fully refunded — the answer does not say which, and no money is held in any of them — so it is
    /// a decline (`CLOSED`); the service already knows the orders it reversed itself.
    public static func tradeStatus(_ status: String, tradeNo: String) -> ChannelPaymentState? {
        switch status {
        case "TRADE_SUCCESS", "TRADE_FINISHED": return tradeNo.isEmpty ? nil : .paid(txn: tradeNo)
        case "WAIT_BUYER_PAY": return .userConfirming
        case "TRADE_CLOSED": return declined(.orderClosed, subCode: "")
        default: return nil
        }
    }

    /// What a `40004` on `alipay.trade.refund` means: a refusal with one of our stable codes, or nil when
    /// Alipay does not know (`ACQ.SYSTEM_ERROR`) and the same refund should be sent again.
    public static func refundRefusal(subCode: String) -> ChannelRefundState? {
        let code: ErrorCode
        switch subCode {
        case "ACQ.SYSTEM_ERROR": return nil
        case "ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_NOT_ALLOW_REFUND": code = .orderNotPaid
        case "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "ACQ.REFUND_FEE_ERROR": code = .refundExceedsPaid
        case "ACQ.DISCORDANT_REPEAT_REQUEST": code = .idempotencyConflict
        case "ACQ.TRADE_HAS_FINISHED", "ACQ.REFUND_CHARGE_ERROR": code = .orderNotReversible
        case "ACQ.OVERSEA_REFUND_TIMES_LIMIT", "ACQ.REFUND_TIMES_LIMIT": code = .refundLimitReached
        default:
            return .refused(reason: DeclineReason.channelDeclined.rawValue, message: "Alipay refused the refund (\(subCode))")
        }
        return .refused(reason: code.rawValue, message: "\(code.rawValue) (Alipay \(subCode))")
    }

    /// A payment code Alipay could take: 16–24 digits starting 25–30 (the published rule for `auth_code`).
    public static func isPaymentCode(_ code: String) -> Bool {
        let bytes = Array(code.utf8)
        guard (16...24).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        let prefix = Int(bytes[0] - 0x30) * 10 + Int(bytes[1] - 0x30)
        return (25...30).contains(prefix)
    }
}
