// The API's bodies on the wire, written and read without Foundation's coder.
//
// Each type writes its keys in sorted order (the bytes then equal Foundation's sorted-keys output) and
// reads them back under the same names; nil optionals are left out. `WireCodingTests` checks every
// type against Foundation, both ways.

extension OrderNumber: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.string(digits) }
    public init(wire value: JSONValue) throws {
        guard let number = OrderNumber(try String(wire: value)) else { throw DecodingError.invalid("not an order number") }
        self = number
    }
}

extension RefundNumber: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.string(text) }
    public init(wire value: JSONValue) throws {
        guard let number = RefundNumber(try String(wire: value)) else { throw DecodingError.invalid("not a refund number") }
        self = number
    }
}

extension OrderStatus: WireStringEnum {}
extension PaymentPending: WireStringEnum {}
extension RefundStatus: WireStringEnum {}
extension Tender: WireStringEnum {}
extension ErrorCode: WireStringEnum {}

extension ActivateRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("code", code)
        w.field("device_name", deviceName)
        w.field("public_key", publicKey)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(code: try f.required("code"), deviceName: try f.optional("device_name"), publicKey: try f.optional("public_key"))
    }
}

extension StoreInfo: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("currency", currency)
        w.field("merchant_id", merchantId)
        w.field("merchant_name", merchantName)
        w.field("store_id", storeId)
        w.field("store_name", storeName)
        w.field("time_zone", timeZone)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(storeId: try f.required("store_id"), storeName: try f.required("store_name"),
                  merchantId: try f.required("merchant_id"), merchantName: try f.required("merchant_name"),
                  currency: try f.required("currency"), timeZone: try f.optional("time_zone"))
    }
}

extension ActivateResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("device_id", deviceId)
        w.field("device_secret", deviceSecret)
        w.field("store", store)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(deviceId: try f.required("device_id"), deviceSecret: try f.required("device_secret"),
                  store: try f.required("store"))
    }
}

extension KeyActivationResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("device_id", deviceId)
        w.field("service_public_key", servicePublicKey)
        w.field("store", store)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(deviceId: try f.required("device_id"), servicePublicKey: try f.required("service_public_key"),
                  store: try f.required("store"))
    }
}

extension PingResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("device_id", deviceId)
        w.field("instance", instance)
        w.field("service_public_key", servicePublicKey)
        w.field("store", store)
        w.field("time", time)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(instance: try f.required("instance"), time: try f.required("time"),
                  deviceId: try f.required("device_id"), store: try f.required("store"),
                  servicePublicKey: try f.optional("service_public_key"))
    }
}

extension RotateKeyRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("public_key", publicKey)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(publicKey: try f.required("public_key"))
    }
}

extension RotateKeyResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("device_id", deviceId)
        w.field("service_public_key", servicePublicKey)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(deviceId: try f.required("device_id"), servicePublicKey: try f.required("service_public_key"))
    }
}

extension OrderItem: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("discount", discount)
        w.field("name", name)
        w.field("quantity", quantity)
        w.field("sku", sku)
        w.field("unit_price", unitPrice)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(sku: try f.optional("sku"), name: try f.required("name"), quantity: try f.required("quantity"),
                  unitPrice: try f.required("unit_price"), discount: try f.optional("discount"))
    }
}

extension CreateOrderRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("client_ref", clientRef)
        w.field("currency", currency)
        w.field("items", items)
        w.field("shift_id", shiftId)
        w.field("staff_id", staffId)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(amount: try f.required("amount"), currency: try f.optional("currency"),
                  items: try f.optional("items"), clientRef: try f.optional("client_ref"),
                  staffId: try f.optional("staff_id"), shiftId: try f.optional("shift_id"))
    }
}

extension SaleRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("cash_given", cashGiven)
        w.field("client_ref", clientRef)
        w.field("currency", currency)
        w.field("items", items)
        w.field("order_no", orderNo)
        w.field("payment_code", paymentCode)
        w.field("reserve", reserve)
        w.field("shift_id", shiftId)
        w.field("staff_id", staffId)
        w.field("tender", tender)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(orderNo: try f.required("order_no"), amount: try f.required("amount"), currency: try f.optional("currency"),
                  items: try f.optional("items"), clientRef: try f.optional("client_ref"),
                  paymentCode: try f.optional("payment_code"), reserve: try f.optional("reserve"),
                  tender: try f.optional("tender"), cashGiven: try f.optional("cash_given"),
                  staffId: try f.optional("staff_id"), shiftId: try f.optional("shift_id"))
    }
}

extension SaleResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("order", order)
        w.field("order_numbers", orderNumbers)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(order: try f.required("order"), orderNumbers: try f.required("order_numbers"))
    }
}

extension PayRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("payment_code", paymentCode)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(paymentCode: try f.required("payment_code"))
    }
}

extension PaymentFailure: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("message", message)
        w.field("reason", reason)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(reason: try f.required("reason"), message: try f.required("message"))
    }
}

extension RefundView: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("created_at", createdAt)
        w.field("currency", currency)
        w.field("order_no", orderNo)
        w.field("refund_no", refundNo)
        w.field("refund_ref", refundRef)
        w.field("status", status)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(refundNo: try f.required("refund_no"), orderNo: try f.required("order_no"),
                  amount: try f.required("amount"), currency: try f.required("currency"),
                  refundRef: try f.required("refund_ref"), status: try f.required("status"),
                  createdAt: try f.required("created_at"))
    }
}

extension OrderView: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("cash_given", cashGiven)
        w.field("channel_txn", channelTxn)
        w.field("client_ref", clientRef)
        w.field("created_at", createdAt)
        w.field("currency", currency)
        w.field("device_id", deviceId)
        w.field("failure", failure)
        w.field("items", items)
        w.field("order_no", orderNo)
        w.field("paid_at", paidAt)
        w.field("pending", pending)
        w.field("refunded_amount", refundedAmount)
        w.field("refunds", refunds)
        w.field("shift_id", shiftId)
        w.field("staff_id", staffId)
        w.field("status", status)
        w.field("store_id", storeId)
        w.field("tender", tender)
        w.field("updated_at", updatedAt)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(orderNo: try f.required("order_no"), storeId: try f.required("store_id"),
                  deviceId: try f.required("device_id"), amount: try f.required("amount"),
                  currency: try f.required("currency"), status: try f.required("status"),
                  refundedAmount: try f.required("refunded_amount"), items: try f.required("items"),
                  clientRef: try f.optional("client_ref"), createdAt: try f.required("created_at"),
                  updatedAt: try f.required("updated_at"), paidAt: try f.optional("paid_at"),
                  channelTxn: try f.optional("channel_txn"), failure: try f.optional("failure"),
                  pending: try f.optional("pending"), refunds: try f.required("refunds"),
                  tender: try f.optional("tender"), cashGiven: try f.optional("cash_given"),
                  staffId: try f.optional("staff_id"), shiftId: try f.optional("shift_id"))
    }
}

extension StaffSignInRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("pin", pin)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(pin: try f.required("pin"))
    }
}

extension StaffView: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("name", name)
        w.field("role", role)
        w.field("staff_id", staffId)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(staffId: try f.required("staff_id"), name: try f.required("name"), role: try f.required("role"))
    }
}

extension StaffSignInResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("staff", staff)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(staff: try f.required("staff"))
    }
}

extension RefundRequest: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("pin", pin)
        w.field("reason", reason)
        w.field("refund_ref", refundRef)
        w.field("shift_id", shiftId)
        w.field("staff_id", staffId)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(amount: try f.required("amount"), refundRef: try f.required("refund_ref"),
                  pin: try f.required("pin"), reason: try f.optional("reason"),
                  staffId: try f.optional("staff_id"), shiftId: try f.optional("shift_id"))
    }
}

extension RefundResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("order", order)
        w.field("refund", refund)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(refund: try f.required("refund"), order: try f.required("order"))
    }
}

extension OrderSummary: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("amount", amount)
        w.field("created_at", createdAt)
        w.field("currency", currency)
        w.field("device_id", deviceId)
        w.field("order_no", orderNo)
        w.field("refunded_amount", refundedAmount)
        w.field("status", status)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(orderNo: try f.required("order_no"), amount: try f.required("amount"),
                  currency: try f.required("currency"), status: try f.required("status"),
                  refundedAmount: try f.required("refunded_amount"), createdAt: try f.required("created_at"),
                  deviceId: try f.required("device_id"))
    }
}

extension OrderListResponse: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("next_cursor", nextCursor)
        w.field("orders", orders)
        w.field("unavailable_groups", unavailableGroups)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(orders: try f.required("orders"), nextCursor: try f.optional("next_cursor"),
                  unavailableGroups: try f.required("unavailable_groups"))
    }
}

extension APIError: WireCodable {
    /// As received: the message and retry flag are the sender's, not recomputed from the code.
    fileprivate init(code: ErrorCode, message: String, detail: String?, retryable: Bool) {
        self.init(code, detail: detail)
        self.message = message
        self.retryable = retryable
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("code", code)
        w.field("detail", detail)
        w.field("message", message)
        w.field("retryable", retryable)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(code: try f.required("code"), message: try f.required("message"),
                  detail: try f.optional("detail"), retryable: try f.required("retryable"))
    }
}

extension ErrorEnvelope: WireCodable {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("error", error)
        w.endObject()
    }

    public init(wire value: JSONValue) throws {
        let f = try WireFields(value, of: Self.self)
        self.init(error: try f.required("error"))
    }
}
