/// Why a payment channel refused a payment: stable codes, each with the sentence a cashier reads.
///
/// An order's `failure.reason` is one of these. Each provider's own codes are mapped onto them by its
/// adapter (docs/CHANNELS.md has the tables); a code we have no mapping for becomes `CHANNEL_DECLINED`
/// with the provider's own code in the message, so nothing is lost.
public enum DeclineReason: String, CaseIterable, Sendable {
    case insufficientFunds = "INSUFFICIENT_FUNDS"
    case codeUsed = "CODE_USED"
    case codeInvalid = "CODE_INVALID"
    case codeExpired = "CODE_EXPIRED"
    case userCancelled = "USER_CANCELLED"
    case systemError = "SYSTEM_ERROR"
    case orderReversed = "ORDER_REVERSED"
    case orderClosed = "CLOSED"
    case buyerRestricted = "BUYER_RESTRICTED"
    case limitExceeded = "LIMIT_EXCEEDED"
    /// The order was begun with another customer's code (WeChat BUYER_MISMATCH).
    case buyerMismatch = "BUYER_MISMATCH"
    case channelDeclined = "CHANNEL_DECLINED"

    /// The sentence shown to the cashier.
    public var message: String {
        switch self {
        case .insufficientFunds: return "The customer's balance is not enough."
        case .codeUsed: return "The payment code was already used; ask the customer to refresh it."
        case .codeInvalid: return "The payment code is not valid."
        case .codeExpired: return "The payment code has expired; ask the customer to refresh it."
        case .userCancelled: return "The customer did not confirm the payment."
        case .systemError: return "The channel had a system error and charged nothing."
        case .orderReversed: return "The order was cancelled."
        case .orderClosed: return "The payment was closed."
        case .buyerRestricted: return "The customer's account cannot pay this way; ask for another method."
        case .limitExceeded: return "The payment is over the customer's limit; ask for another method."
        case .buyerMismatch: return "This order was begun with another customer's code; start a new sale."
        case .channelDeclined: return "The payment channel declined the payment."
        }
    }

    /// The sentence for a stored reason code (an unknown one reads as a plain decline).
    public static func message(forCode code: String) -> String {
        DeclineReason(rawValue: code)?.message ?? DeclineReason.channelDeclined.message
    }
}
