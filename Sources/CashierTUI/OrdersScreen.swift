import CashierCore

/// The store's orders, newest first, a page at a time; Enter opens one.
struct OrdersScreen: Screen {
    static let pageSize = 14
    /// Cursors of the pages seen so far; the last is the current page's (nil = first page).
    var cursors: [String?] = [nil]
    var page: OrderListResponse?
    var selected = 0
    var loading = true
    var message: Message?

    let keymap = KeyMap.orders
    let titleKey = "title.orders"

    /// The effects that open the list.
    static func open() -> [Effect] {
        [.push(OrdersScreen()), .send(.listOrders(cursor: nil, limit: pageSize))]
    }

    func accepts(_ c: Character) -> Bool { false }
    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] { [] }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        let count = page?.orders.count ?? 0
        switch request {
        case .moveUp: selected = max(0, selected - 1); return []
        case .moveDown: selected = max(0, min(count - 1, selected + 1)); return []
        case .pageDown:
            guard !loading else { return [] }
            guard let next = page?.nextCursor else { message = .info(s["orders.lastPage"]); return [] }
            cursors.append(next)
            return load()
        case .pageUp:
            guard !loading else { return [] }
            guard cursors.count > 1 else { message = .info(s["orders.firstPage"]); return [] }
            cursors.removeLast()
            return load()
        case .confirm:
            guard !loading, let o = page?.orders[safe: selected] else { return [] }
            return [.push(OrderDetailScreen(orderNo: o.orderNo)), .send(.lookupOrder(o.orderNo))]
        default:
            return nil
        }
    }

    private mutating func load() -> [Effect] {
        loading = true
        message = nil
        return [.send(.listOrders(cursor: cursors.last ?? nil, limit: OrdersScreen.pageSize))]
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        guard loading, case .orderList(let result) = event else { return [] }
        loading = false
        switch result {
        case .success(let p):
            page = p
            selected = 0
            message = p.unavailableGroups.isEmpty ? nil
                : .error(context.strings["orders.missingGroups", p.unavailableGroups.map(String.init).joined(separator: ", ")])
        case .failure(let e):
            if cursors.count > 1, page != nil { cursors.removeLast() }
            message = .error(Format.error(e, context.strings))
        }
        return []
    }

    static func header(_ s: Strings) -> String {
        DisplayWidth.fit(s["column.orderNo"], to: 24) + DisplayWidth.fit(s["column.time"], to: 20)
            + DisplayWidth.fit(s["column.amount"], to: 12, alignRight: true) + "  "
            + DisplayWidth.fit(s["column.status"], to: 10) + DisplayWidth.fit(s["column.refunded"], to: 10, alignRight: true)
    }

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 1
        b.write(OrdersScreen.header(s), row: area.top, column: x, style: .bold)
        if loading { b.write(s["orders.loading"], row: area.top + 2, column: x); return }
        guard let page else { return }
        if page.orders.isEmpty { b.write(s["orders.none"], row: area.top + 2, column: x) }
        for (i, o) in page.orders.prefix(area.rows - 3).enumerated() {
            let text = DisplayWidth.fit(o.orderNo.digits, to: 24) + DisplayWidth.fit(Format.time(o.createdAt, context.status.store), to: 20)
                + DisplayWidth.fit(Format.amount(o.amount), to: 12, alignRight: true) + "  "
                + DisplayWidth.fit(Format.status(o.status, s), to: 10)
                + DisplayWidth.fit(o.refundedAmount > 0 ? Format.amount(o.refundedAmount) : "", to: 10, alignRight: true)
            let style: CellStyle = i == selected ? .bar : .plain
            if i == selected { b.fill(row: area.top + 1 + i, column: x, width: 78, style: style) }
            b.write(text, row: area.top + 1 + i, column: x, style: style)
        }
        let more = page.nextCursor != nil ? s["orders.more"] : s["orders.end"]
        b.write(s["orders.page", cursors.count] + "  " + more, row: area.top + area.rows - 1, column: x, style: .dim)
    }
}

/// One order in full, with its items and refunds; `r` starts a refund of it.
struct OrderDetailScreen: Screen {
    let orderNo: OrderNumber
    var order: OrderView?
    var message: Message?
    let keymap = KeyMap.orderDetail
    let titleKey = "title.order"

    init(orderNo: OrderNumber) { self.orderNo = orderNo }

    func accepts(_ c: Character) -> Bool { false }
    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] { [] }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        switch request {
        case .refundOrder:
            guard let order else { return [] }
            guard order.refundable > 0 else { message = .error(context.strings["refund.nothing"]); return [] }
            return [.push(RefundScreen(order: order))]
        case .reprintReceipt:
            guard let order else { return [] }
            return [.send(.reprintReceipt(order.orderNo))]
        case .confirm: return []
        default: return nil
        }
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        if case let .receipt(result, copy) = event {
            message = Receipt.message(result, copy: copy, context.strings)
            return []
        }
        guard order == nil, case .order(let result) = event else { return [] }
        switch result {
        case .success(let o): order = o
        case .failure(let e): message = .error(Format.error(e, context.strings))
        }
        return []
    }

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        guard let order else {
            b.write(s["orders.loading"], row: area.top + 1, column: x)
            return
        }
        var lines = Receipt.lines(order: order, store: context.status.store, strings: s)
        lines.append(s["detail.refunded", Format.amount(order.refundedAmount), Format.amount(order.refundable)])
        for r in order.refunds {
            lines.append("  \(r.refundNo)  \(Format.time(r.createdAt, context.status.store))  \(Format.amount(r.amount))  \(r.status.rawValue)")
        }
        if let f = order.failure { lines.append(s["detail.failure", f.message, f.reason]) }
        for (i, line) in lines.prefix(area.rows).enumerated() { b.write(line, row: area.top + i, column: x) }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
