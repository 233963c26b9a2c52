/// Which payment channel a customer's payment code belongs to, decided by the code alone.
///
/// The wallets publish their code ranges (docs/CHANNELS.md): WeChat Pay 18 digits starting 10–15,
/// Alipay 16–24 digits starting 25–30. The sandbox has a range of its own that no real wallet uses,
/// 18 digits starting `99`, so a demo code can never reach a real provider and a real code never the
/// sandbox. The service refuses a code of no channel, or of a channel the store does not have, before
/// anything is sent anywhere.
public enum ChannelKind: String, CaseIterable, Codable, Sendable {
    case wechatpay
    case alipay
    case sandbox

    /// The channel whose codes look like `code`; nil for a code of no known channel.
    public init?(paymentCode code: String) {
        let digits = Array(code.utf8)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), digits.count >= 2 else { return nil }
        let prefix = Int(digits[0] - 48) * 10 + Int(digits[1] - 48)
        switch (digits.count, prefix) {
        case (18, 10...15): self = .wechatpay
        case (16...24, 25...30): self = .alipay
        case (18, 99): self = .sandbox
        default: return nil
        }
    }

    /// How the code's form is described to a person.
    public var codeForm: String {
        switch self {
        case .wechatpay: return "18 digits starting with 10 to 15"
        case .alipay: return "16 to 24 digits starting with 25 to 30"
        case .sandbox: return "18 digits starting with 99"
        }
    }

    /// The name people read.
    public var displayName: String {
        switch self {
        case .wechatpay: return "WeChat Pay"
        case .alipay: return "Alipay"
        case .sandbox: return "Sandbox"
        }
    }
}
