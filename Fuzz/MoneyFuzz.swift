import CashierCore

/// libFuzzer entry: `Money.parse` on arbitrary text; an accepted amount is in range and prints back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func moneyFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    let text = String(decoding: bytes, as: UTF8.self)
    if let money = try? Money.parse(text) {
        precondition((0...Money.maximumMinorUnits).contains(money.minorUnits), "parsed amount out of range")
        let again = try? Money.parse(money.decimalString)
        precondition(again == money, "decimalString does not parse back to the same amount")
    }
    _ = Money.isValidCurrency(text)
    return 0
}
