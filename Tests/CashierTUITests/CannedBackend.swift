import CashierCore
@testable import CashierTUI

/// A backend of canned API values for driving the screens (a test of the screens, not of the service).
struct CannedBackend: CashierBackend {
    var snapshot: BackendStatus
    var items: [String: OrderItem] = [:]
    /// The events each command is answered with, at once.
    var answer: @Sendable (BackendCommand) -> [BackendEvent]
    private var queue: [BackendEvent] = []

    init(snapshot: BackendStatus = CannedBackend.activeStatus, items: [String: OrderItem] = [:],
         answer: @escaping @Sendable (BackendCommand) -> [BackendEvent] = { _ in [] }) {
        self.snapshot = snapshot; self.items = items; self.answer = answer
    }

    func status() -> BackendStatus { snapshot }
    func catalogItem(code: String) -> OrderItem? { items[code] }
    mutating func send(_ command: BackendCommand) { queue += answer(command) }
    mutating func pollEvents() -> [BackendEvent] { defer { queue = [] }; return queue }

    static let store = StoreInfo(storeId: "S001", storeName: "Harbour Road", merchantId: "M01",
                                 merchantName: "Acme Foods", currency: "CNY")
    static let activeStatus = BackendStatus(
        domains: [DomainStatus(name: "pay-a.example.com", state: .active, latencyMilliseconds: 23),
                  DomainStatus(name: "pay-b.example.com", state: .standby, latencyMilliseconds: 41)],
        deviceId: "DEV-0001", store: store)

    static func orderNumber(_ sequence: Int, group: Int = 2) -> OrderNumber {
        OrderNumber(epochSeconds: 1_764_000_000 + Int64(sequence), instance: 7, sequence: sequence, group: GroupTag(group)!)
    }

    static func order(_ no: OrderNumber, amount: Int64, status: OrderStatus, refunded: Int64 = 0,
                      items: [OrderItem] = [], failure: PaymentFailure? = nil) -> OrderView {
        OrderView(orderNo: no, storeId: "S001", deviceId: "DEV-0001", amount: amount, currency: "CNY", status: status,
                  refundedAmount: refunded, items: items, createdAt: 1_764_000_000_000, updatedAt: 1_764_000_060_000,
                  paidAt: status == .paid ? 1_764_000_060_000 : nil, channelTxn: status == .paid ? "TXN42" : nil,
                  failure: failure)
    }
}
