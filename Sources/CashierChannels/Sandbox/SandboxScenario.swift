import CashierCore

/// What the sandbox channel does with a payment code, decided by the code alone (deterministic).
///
/// A sandbox payment code is 18 digits starting with `99` (`ChannelKind.sandbox`: no real wallet's range,
/// so a demo code never reaches a real provider). Its last digit picks the scenario, so testers and cashiers can provoke every outcome on purpose; docs/SANDBOX.md
/// lists them.
public enum SandboxScenario: Int, Sendable, CaseIterable {
    /// Last digit 0–3: paid at once.
    case paid = 0
    /// 4: USERPAYING; the customer confirms after the configured delay, then paid.
    case userConfirms = 4
    /// 5: USERPAYING; the customer never confirms (the terminal must reverse at its deadline).
    case userNeverConfirms = 5
    /// 6: declined for insufficient funds.
    case insufficientFunds = 6
    /// 7: the pay call answers "system error", but the charge went through (query says paid).
    case unknownButPaid = 7
    /// 8: slow: the pay call answers after the configured delay, paid.
    case slow = 8
    /// 9: the pay call answers "system error" and nothing was charged (query says closed).
    case unknownNotPaid = 9

    /// The scenario of a well-formed code; nil for a malformed one.
    public init?(paymentCode: String) {
        guard SandboxScenario.isWellFormed(paymentCode), let last = paymentCode.utf8.last else { return nil }
        let digit = Int(last - 48)
        self = digit <= 3 ? .paid : SandboxScenario(rawValue: digit)!
    }

    /// A sandbox code: 18 digits whose first two are 99.
    public static func isWellFormed(_ code: String) -> Bool {
        ChannelKind(paymentCode: code) == .sandbox
    }
}
