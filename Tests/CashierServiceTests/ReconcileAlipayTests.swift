import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `cashierd reconcile --channel alipay`: a store configured with Alipay sells against the Alipay
/// simulator (`Tests/Simulators/alipay_sim.py`), and the day's bill the simulator serves — downloaded by
/// the adapter through the store's own settings, or handed over as a file — is compared with its orders.
final class ReconcileAlipayTests: XCTestCase {
    var simulator: SimulatorProcess!
    var service: Cashierd!

    override func setUpWithError() throws {
        simulator = try SimulatorProcess()
        service = try Cashierd(groups: 1) { $0.sweep.afterSeconds = 0 }
    }

    override func tearDown() {
        service?.stop()
        service = nil
        simulator?.stop()
        simulator = nil
    }

    /// The simulator's payment codes: "28", two digits of behaviour ("00" pays at once, "02" never
    /// confirms), 14 random digits that make the code unique.
    static func code(_ behaviour: String) -> String {
        "28" + behaviour + String(format: "%014llu", UInt64.random(in: 0..<100_000_000_000_000))
    }

    func testAStoreThatTakesAlipayIsReconciledAgainstTheDaysBill() throws {
        let keys = simulator.keys
        let settings = service.directory.file("alipay.json")
        try """
        {"app_id": "2021000000000001", "app_private_key_file": "\(keys)/app_private.pem",
         "alipay_public_key_file": "\(keys)/alipay_public.pem", "store_id": "STORE-1",
         "primary_gateway_url": "https://127.0.0.1:\(simulator.primaryPort)/gateway.do", "ca_file": "\(keys)/ca.pem",
         "connect_timeout_ms": 1000, "timeout_ms": 5000, "statement_timeout_ms": 10000}
        """.write(toFile: settings, atomically: true, encoding: .utf8)
        let set = try service.admin(["store", "channel", "set", "--store", service.storeID, "--channel", "alipay", "--settings", settings])
        XCTAssertEqual(set.status, 0, set.stderr)

        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let china: Int64 = 8 * 3_600
        let started = CashierService.systemClock()
        func sale(_ amount: Int64, _ behaviour: String) throws -> OrderView {
            let order = try terminal.createOrder(amount: amount).unwrap()
            return try terminal.pay(order.orderNo, code: Self.code(behaviour)).unwrap()
        }
        let a = try sale(1_234, "00")
        let b = try sale(2_000, "00")
        XCTAssertEqual([a.status, b.status], [.paid, .paid])
        let refund = try terminal.refund(b.orderNo, amount: 500, ref: "r1", pin: Cashierd.supervisorPIN).unwrap().refund
        XCTAssertEqual(refund.status, .succeeded)
        let c = try sale(300, "02")
        XCTAssertEqual(c.status, .paying, "the buyer never confirms: the payment stays under way")
        let day = StatementDay.day(ofMs: started, utcOffsetSeconds: china)
        guard StatementDay.day(ofMs: CashierService.systemClock(), utcOffsetSeconds: china) == day else {
            throw XCTSkip("the sales straddled midnight in China; the counts below are for one day")
        }

        // Downloaded through the store's settings: exact, the payment under way printed.
        let r = try service.admin(["reconcile", "--channel", "alipay", "--date", day])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for expected in ["alipay statement of \(day) (its days run midnight to midnight UTC+08:00), from the channel",
                         "stores: \(service.storeID)",
                         "paid orders in groups: 2; paid at channel: 2",
                         "refunds in groups: 1; refunds at channel: 1",
                         "matched: 2 payments, 1 refund, 0 reversals",
                         "payments under way: 1",
                         "order \(c.orderNo.digits) (store \(service.storeID)): the payment of 3.00 started at \(day) ",
                         "reconciliation: EXACT (1 under way: reconcile again once settled)"] {
            XCTAssertTrue(r.stdout.contains(expected), "missing \(expected):\n\(r.stdout)")
        }
        XCTAssertEqual(try service.admin(["reconcile", "--channel", "alipay", "--date", day, "--store", service.storeID]).status, 0)
        // The same store's sandbox statement has none of these orders, and expects none.
        let sandbox = try service.admin(["reconcile", "--channel", "sandbox", "--date", StatementDay.day(ofMs: started, utcOffsetSeconds: 0)])
        XCTAssertEqual(sandbox.status, 0, sandbox.stdout)
        XCTAssertTrue(sandbox.stdout.contains("paid orders in groups: 0; paid at channel: 0"), sandbox.stdout)

        // A detail CSV as taken out of the bill's zip (here converted to UTF-8), edited: A charged 12.35,
        // B's refund missing, a payment for an order of nobody's.
        let compact = day.replacingOccurrences(of: "-", with: "")
        let dayText = "\(compact.prefix(4))年\(compact.dropFirst(4).prefix(2))月\(compact.suffix(2))日"
        let when = AlipayTime.timestamp(unixMs: started)
        let stranger = OrderNumber(epochSeconds: started / 1_000, instance: 7, sequence: 4_244, group: GroupTag(0)!).digits
        let csv = [
            "#支付宝业务明细查询",
            "#账号：[20880000000000000156]",
            "#起始日期：[\(dayText) 00:00:00]   终止日期：[\(dayText) 23:59:59]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,退款批次号/请求号,备注",
            "2026000000000000000000000001\t,\(a.orderNo.digits)\t,交易,咖啡,\(when),\(when),STORE-1,,,T1,159****5620,12.35,12.35,,",
            "2026000000000000000000000002\t,\(b.orderNo.digits)\t,交易,茶,\(when),\(when),STORE-1,,,T1,159****5620,20.00,20.00,,",
            "2026000000000000000000000009\t,\(stranger)\t,交易,茶,\(when),\(when),STORE-1,,,T1,159****5620,9.99,9.99,,",
            "#-----------------------------------------业务明细列表结束------------------------------------",
        ].joined(separator: "\r\n")
        let file = service.directory.file("bill.csv")
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let edited = try service.admin(["reconcile", "--channel", "alipay", "--date", day, "--statement", file])
        XCTAssertEqual(edited.status, 1, edited.stdout + edited.stderr)
        XCTAssertTrue(edited.stdout.contains("from the file \(file)"), edited.stdout)
        XCTAssertTrue(edited.stdout.contains("paid orders in groups: 2; paid at channel: 3"), edited.stdout)
        for expected in ["charged-not-recorded: 1", "order \(stranger): the channel charged 9.99 (2026000000000000000000000009) for an order no group has",
                         "amount-differs: 1", "order \(a.orderNo.digits) (store \(service.storeID)): the channel charged 12.35, the group records 12.34 paid",
                         "refund-only-in-groups: 1", "order \(b.orderNo.digits), refund \(refund.refundNo.text) (store \(service.storeID)): the group records refund",
                         "under-way: 1 (not a mismatch)", "reconciliation: MISMATCH (3 lines to act on)"] {
            XCTAssertTrue(edited.stdout.contains(expected), "missing \(expected):\n\(edited.stdout)")
        }
        // A bill of another day is refused, not compared.
        try csv.replacingOccurrences(of: dayText, with: "2020年01月01日").write(toFile: file, atomically: true, encoding: .utf8)
        let otherDay = try service.admin(["reconcile", "--channel", "alipay", "--date", day, "--statement", file])
        XCTAssertEqual(otherDay.status, 1)
        XCTAssertTrue(otherDay.stdout.contains("the file is the statement of 2020-01-01, not of \(day)"), otherDay.stdout)

        // An order's amount changed in its group, against the downloaded bill.
        service.stop()
        let sqlite = try runCommand("/usr/bin/sqlite3", [service.directory.file("data/group-00.sqlite"),
                                                         "UPDATE orders SET amount = 2100 WHERE order_no = '\(b.orderNo.digits)'"])
        XCTAssertEqual(sqlite.status, 0, sqlite.stderr)
        let tampered = try service.admin(["reconcile", "--channel", "alipay", "--date", day])
        XCTAssertEqual(tampered.status, 1, tampered.stdout)
        XCTAssertTrue(tampered.stdout.contains("order \(b.orderNo.digits) (store \(service.storeID)): the channel charged 20.00, the group records 21.00 paid"),
                      tampered.stdout)
    }
}

/// The Alipay simulator as a child of this test: its keys made in a directory of its own, its output
/// in files (no pipe of ours is held by it or by the openssl it runs), ended with its process group.
final class SimulatorProcess {
    let process = Process()
    let directory: TemporaryDirectory
    var keys: String { directory.file("keys") }
    private(set) var primaryPort = 0

    init() throws {
        directory = try TemporaryDirectory(prefix: "alipay-sim")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Simulators/alipay_sim.py").path
        let out = directory.file("out.txt"), err = directory.file("err.txt")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + [script, "--dir", keys, "--max-seconds", "300"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        // Ready with its one JSON line (making the keys takes a few seconds).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if let text = try? String(contentsOfFile: out, encoding: .utf8), let newline = text.firstIndex(of: "\n"),
               let ready = try? JSONSerialization.jsonObject(with: Data(text[..<newline].utf8)) as? [String: Any],
               let port = ready["primary_port"] as? Int {
                primaryPort = port
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        stop()
        throw RuntimeError("the Alipay simulator did not start: \(log.suffix(2_000))")
    }

    func stop() {
        let pid = process.processIdentifier
        guard pid > 0, process.isRunning else { return }
        _ = kill(-pid, SIGKILL)  // its process group: the simulator and any openssl it runs
        _ = kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    deinit { stop() }
}
