import CashierCore

/// First run: type the activation code; shows why a code was refused, then the store activated for.
struct ActivationScreen: Screen {
    enum Phase: Equatable { case entering, activating, done(Activation) }
    var phase: Phase = .entering
    var input = ""
    var message: Message?

    let keymap = KeyMap.activation
    let titleKey = "title.activation"

    func accepts(_ c: Character) -> Bool {
        phase == .entering && c.isASCII && (c.isLetter || c.isNumber || c == "-")
    }

    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] {
        if input.count < 32 { input += c.uppercased() }
        message = nil
        return []
    }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        switch (request, phase) {
        case (.confirm, .entering):
            guard !input.isEmpty else { message = .error(s["activation.empty"]); return [] }
            phase = .activating
            message = .info(s["activation.working"])
            return [.send(.activate(code: input))]
        case (.confirm, .done):
            return [.replaceAll(CheckoutScreen())]
        case (.deleteBackward, .entering):
            if !input.isEmpty { input.removeLast() }
            return []
        case (.clearInput, .entering), (.back, .entering):
            input = ""; message = nil
            return []
        case (.back, _), (.confirm, _), (.deleteBackward, _), (.clearInput, _):
            return []
        default:
            return nil
        }
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        guard phase == .activating, case .activation(let result) = event else { return [] }
        let s = context.strings
        switch result {
        case .success(let activation):
            phase = .done(activation)
            message = .success(s["activation.done"])
        case .failure(let error):
            phase = .entering
            switch error.code {
            case .activationCodeInvalid: message = .error(s["activation.invalid"])
            case .activationCodeUsed: message = .error(s["activation.used"])
            case .activationCodeExpired: message = .error(s["activation.expired"])
            default: message = .error(Format.error(error, s))
            }
        }
        return []
    }

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        b.write(s["activation.intro"], row: area.top + 1, column: x, width: area.columns - 4)
        let used = b.write(s["activation.prompt"] + " ", row: area.top + 3, column: x, style: .bold)
        b.write(phase == .entering ? Format.field(input) : input, row: area.top + 3, column: x + used)
        if case .done(let a) = phase {
            b.write(s["activation.store", a.store.storeName, a.store.storeId], row: area.top + 5, column: x, style: .bold)
            b.write(s["activation.merchant", a.store.merchantName], row: area.top + 6, column: x)
            b.write(s["activation.device", a.deviceId], row: area.top + 7, column: x)
            b.write(s["activation.continue"], row: area.top + 9, column: x, style: .dim)
        }
    }
}
