#!/usr/bin/env python3
"""A WeChat Pay API v2 simulator for tests: test infrastructure, not product.

It speaks the published request and answer formats of the six payment-code calls over HTTPS on
127.0.0.1 — pay/micropay, pay/orderquery, secapi/pay/reverse, secapi/pay/refund, pay/refundquery,
pay/downloadbill — on two listeners standing for the two domains (primary and backup), with books of
its own kept in memory. Nothing in the adapter knows it: it is reached only through the base URLs
and CA file a test configures.

What it checks, like the provider:
  * the merchant's signature, MD5 or HMAC-SHA256 as the request's sign_type says (MD5 when absent),
    over every non-empty parameter but sign; the appid and mch_id; the XML (no DOCTYPE, no entities,
    no nesting, at most 64 KiB);
  * on secapi/* the merchant's API client certificate: TLS client-certificate verification against
    the CA that issued it (a certificate from another CA fails the handshake) and its CN must be the
    mch_id; a call without one is refused (return_code FAIL);
  * payment codes are 18 digits starting 10 to 15 and single-use; one pay per out_trade_no (a repeat
    answers how that payment stands, never charges again); one refund per out_refund_no; refunds never
    exceed what was paid.
Every answer is signed with the request's sign_type (unless told to sign badly).

Payment codes decide the customer's behaviour, as in cashierd's sandbox (docs/SANDBOX.md). The LAST
digit picks the scenario:
    0, 1, 2  paid at once
    3        refused, the digit before the last says how:
               0 AUTHCODEEXPIRE   1 AUTH_CODE_INVALID   2 NOTSUPORTCARD   3 BUYER_MISMATCH
               4 TRADE_ERROR      5 BANKERROR, but charged (a query says SUCCESS)
               6 BANKERROR, nothing charged (a query says PAYERROR)   7-9 paid at once
    4        USERPAYING; the customer confirms after --confirm-seconds (then SUCCESS)
    5        USERPAYING; the customer never confirms (revoked after --auto-revoke-seconds)
    6        NOTENOUGH (insufficient balance)
    7        SYSTEMERROR answered, but charged (a query says SUCCESS)
    8        slow: answered after --slow-seconds, paid
    9        SYSTEMERROR answered, nothing charged (a query says PAYERROR)
Examples: 134567890123456780 (paid), 134567890123456784 (confirms), 134567890123456786 (NOTENOUGH),
134567890123456703 (AUTHCODEEXPIRE).

Misbehaviour, by command-line flag at start or at any time through the control endpoint
(plain HTTP on 127.0.0.1, its port in the ready line):
    POST /control  {"primary_down": true}          the primary listener refuses connections
                   {"backup_down": true}           (and drops the connections it had); false: up again
                   {"delays": {"/pay/micropay": 3}} process, then sleep that long before answering
                   {"drops": {"/pay/micropay": 1}}  process the next N such calls, then close the
                                                    connection without answering
                   {"bad_sign": ["/pay/micropay"]}  sign those answers with a wrong key ("*": all)
                   {"foreign_appid": ["/pay/orderquery"]}  answer (validly signed) for another appid
                   {"system_error_pays": 2}         the next N pays answer SYSTEMERROR (but charge)
                   {"userpaying_seconds": 3}        the next pays answer USERPAYING and are paid
                                                    after that long (null: back to the codes)
                   {"recall_first": 2}              the first N reverse calls answer recall=Y
                   {"refund_refusals": ["NOTENOUGH"]}  the next new refunds (one per code, in order) are
                                                    refused with that err_code; nothing is refunded
                   {"confirm_seconds": 1, "refund_settle_seconds": 2, "slow_seconds": 3}
    GET  /state    the books, every call received (listener, path, numbers) and TLS refusals
    GET  /books    the money, settled by the clock: per out_trade_no what was charged, returned by a
                   reverse and refunded, and how many pay calls reached the books; per refund its
                   amount and status; Beijing days; and the totals (for tests that compare the
                   service's books with the provider's)
It generates its CA, the server certificate (127.0.0.1, localhost) and the merchant's client
certificate (CN = mch_id) with the openssl CLI into --dir at start-up, plus a "stranger" client
certificate from another CA, and prints ONE JSON line when ready: ports and file paths. It exits when
its parent goes away or after --max-lifetime-seconds.
"""

import argparse
import datetime
import hashlib
import hmac
import http.server
import json
import os
import secrets
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
MAX_BODY = 64 * 1024
BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
               "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
               "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
# The refund refusals the published refund call lists, with their texts.
REFUND_REFUSAL_TEXT = {"NOTENOUGH": "基本账户余额不足，请充值后重新发起", "TRADE_OVERDUE": "订单已经超过退款期限",
                       "USER_ACCOUNT_ABNORMAL": "退款请求失败", "INVALID_TRANSACTIONID": "无效transaction_id",
                       "ERROR": "申请退款业务发生错误"}
BILL_TOTALS_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


# ----------------------------------------------------------------------------------------------
# The wire: XML and the signature


class Refusal(Exception):
    """A call the provider refuses outright: return_code FAIL, unsigned."""


def parse_xml(body):
    if len(body) > MAX_BODY:
        raise Refusal("XML_FORMAT_ERROR: too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal("NOT_UTF8")
    if "<!" in text.replace("<![CDATA[", ""):
        raise Refusal("XML_FORMAT_ERROR: DOCTYPE, entities and comments are refused")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise Refusal("XML_FORMAT_ERROR")
    if root.tag != "xml" or root.attrib:
        raise Refusal("XML_FORMAT_ERROR")
    fields = {}
    for child in root:
        if len(child) or child.attrib or child.tag in fields:
            raise Refusal("XML_FORMAT_ERROR: nested or repeated")
        fields[child.tag] = child.text or ""
    return fields


def to_xml(fields):
    out = ["<xml>"]
    for k, v in fields.items():
        v = str(v)
        if v.isdigit():
            out.append("<%s>%s</%s>" % (k, v, k))
        else:
            out.append("<%s><![CDATA[%s]]></%s>" % (k, v.replace("]]>", "]]]]><![CDATA[>"), k))
    out.append("</xml>")
    return "".join(out).encode("utf-8")


def signature(fields, key, sign_type):
    text = "&".join("%s=%s" % (k, fields[k]) for k in sorted(fields) if k != "sign" and fields[k] != "")
    text += "&key=" + key
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()


# ----------------------------------------------------------------------------------------------
# The books


def now_s():
    return time.time()


def beijing(t):
    return datetime.datetime.fromtimestamp(t, BEIJING)


def fen_text(fen):
    return "%d.%02d" % (fen // 100, fen % 100)


class Simulator:
    def __init__(self, args, key):
        self.args = args
        self.key = key
        self.lock = threading.Lock()
        self.payments = {}      # out_trade_no -> dict
        self.codes = {}         # payment code -> out_trade_no
        self.refunds = {}       # out_refund_no -> dict
        self.calls = []         # every call received
        self.tls_refusals = []
        self.serial = 0
        self.delays = dict(args.delay or {})
        self.drops = {}
        self.bad_sign = set(args.bad_sign or [])
        self.foreign_appid = set()
        self.system_error_pays = args.system_error_pays
        self.userpaying_seconds = None
        self.recall_first = args.recall_first
        self.refund_refusals = []
        self.confirm_seconds = args.confirm_seconds
        self.refund_settle_seconds = args.refund_settle_seconds
        self.slow_seconds = args.slow_seconds

    def next_id(self, prefix):
        self.serial += 1
        return prefix + beijing(now_s()).strftime("%Y%m%d") + "%015d" % self.serial

    # -- settling by the clock

    def settle(self, p, t):
        if p["state"] == "USERPAYING":
            if p.get("confirm_at") is not None and t >= p["confirm_at"]:
                self.mark_paid(p, p["confirm_at"])
            elif t >= p["created"] + self.args.auto_revoke_seconds:
                p["state"] = "REVOKED"
                p["reversed_at"] = p["created"] + self.args.auto_revoke_seconds
        for r in self.refunds.values():
            if r["out_trade_no"] == p["out_trade_no"] and r["status"] == "PROCESSING" and t >= r["settle_at"]:
                r["status"] = "SUCCESS"
                r["success_at"] = r["settle_at"]

    def mark_paid(self, p, t):
        p["state"] = "SUCCESS"
        p["paid_at"] = t
        p["txn"] = p.get("txn") or self.next_id("42000")

    def refunded(self, out_trade_no):
        return sum(r["amount"] for r in self.refunds.values() if r["out_trade_no"] == out_trade_no)

    # -- the six calls; each returns the answer's business fields (result_code and what goes with it)

    def micropay(self, f, t):
        code, no = f.get("auth_code", ""), f.get("out_trade_no", "")
        try:
            amount = int(f.get("total_fee", ""))
        except ValueError:
            amount = 0
        if not no or amount <= 0 or not f.get("body") or not f.get("spbill_create_ip"):
            return fail("PARAM_ERROR", "参数错误")
        if len(code) != 18 or not code.isdigit():
            return fail("AUTH_CODE_ERROR", "授权码参数错误")
        if not ("10" <= code[:2] <= "15"):
            return fail("AUTH_CODE_INVALID", "授权码检验错误")
        p = self.payments.get(no)
        if p is not None:
            self.settle(p, t)
            if p["state"] == "REVOKED" and p.get("code") is None:
                return fail("ORDERREVERSED", "订单已撤销")
            if p["amount"] != amount:
                return fail("OUT_TRADE_NO_USED", "商户订单号重复")
            if p.get("code") != code:
                return fail("BUYER_MISMATCH", "暂不支持同一笔订单更换支付方")
            return self.pay_answer_for_existing(p)
        if code in self.codes:
            return fail("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试")
        self.codes[code] = no
        p = {"out_trade_no": no, "code": code, "amount": amount, "fee_type": f.get("fee_type", "CNY"),
             "body": f.get("body", ""), "device_info": f.get("device_info", ""), "created": t,
             "state": "NOTPAY", "txn": None, "paid_at": None, "refund_count": 0}
        self.payments[no] = p
        if self.system_error_pays > 0:
            self.system_error_pays -= 1
            self.mark_paid(p, t)
            return fail("SYSTEMERROR", "系统超时")
        if self.userpaying_seconds is not None:
            p["state"] = "USERPAYING"
            p["confirm_at"] = t + self.userpaying_seconds
            return fail("USERPAYING", "需要用户输入支付密码")
        last, before = code[-1], code[-2]
        if last in "012":
            self.mark_paid(p, t)
        elif last == "3":
            refusal = {"0": ("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试"),
                       "1": ("AUTH_CODE_INVALID", "授权码检验错误"),
                       "2": ("NOTSUPORTCARD", "不支持卡类型"),
                       "3": ("BUYER_MISMATCH", "暂不支持同一笔订单更换支付方"),
                       "4": ("TRADE_ERROR", "交易错误")}.get(before)
            if refusal:
                p["state"] = "PAYERROR"
                return fail(*refusal)
            if before == "5":
                self.mark_paid(p, t)
                return fail("BANKERROR", "银行系统异常")
            if before == "6":
                p["state"] = "PAYERROR"
                return fail("BANKERROR", "银行系统异常")
            self.mark_paid(p, t)
        elif last == "4":
            p["state"] = "USERPAYING"
            p["confirm_at"] = t + self.confirm_seconds
            return fail("USERPAYING", "需要用户输入支付密码")
        elif last == "5":
            p["state"] = "USERPAYING"
            p["confirm_at"] = None
            return fail("USERPAYING", "需要用户输入支付密码")
        elif last == "6":
            p["state"] = "PAYERROR"
            return fail("NOTENOUGH", "余额不足")
        elif last == "7":
            self.mark_paid(p, t)
            return fail("SYSTEMERROR", "系统超时")
        elif last == "8":
            p["slow"] = True
            self.mark_paid(p, t)
        elif last == "9":
            p["state"] = "PAYERROR"
            return fail("SYSTEMERROR", "系统超时")
        return self.paid_fields(p)

    def pay_answer_for_existing(self, p):
        state = p["state"]
        if state in ("SUCCESS", "REFUND"):
            return fail("ORDERPAID", "订单已支付")
        if state == "USERPAYING":
            return fail("USERPAYING", "需要用户输入支付密码")
        if state == "REVOKED":
            return fail("ORDERREVERSED", "订单已撤销")
        return fail("ORDERCLOSED", "订单已关闭")

    def paid_fields(self, p):
        return {"result_code": "SUCCESS", "openid": "oSimulatedBuyer0000000000000", "is_subscribe": "N",
                "trade_type": "MICROPAY", "bank_type": "OTHERS", "fee_type": p["fee_type"],
                "total_fee": str(p["amount"]), "cash_fee": str(p["amount"]), "cash_fee_type": "CNY",
                "transaction_id": p["txn"], "out_trade_no": p["out_trade_no"],
                "time_end": beijing(p["paid_at"]).strftime("%Y%m%d%H%M%S")}

    def orderquery(self, f, t):
        p = self.payments.get(f.get("out_trade_no", ""))
        if p is None:
            return fail("ORDERNOTEXIST", "此交易订单号不存在")
        self.settle(p, t)
        state = p["state"]
        if state == "SUCCESS" and self.refunded(p["out_trade_no"]) > 0:
            state = "REFUND"
        out = {"result_code": "SUCCESS", "out_trade_no": p["out_trade_no"], "trade_state": state,
               "trade_state_desc": {"SUCCESS": "支付成功", "REFUND": "转入退款", "NOTPAY": "未支付",
                                    "USERPAYING": "用户支付中", "PAYERROR": "支付失败", "REVOKED": "已撤销",
                                    "CLOSED": "已关闭"}.get(state, state)}
        if state in ("SUCCESS", "REFUND"):
            out.update(self.paid_fields(p))
            out["trade_state"] = state
        return out

    def reverse(self, f, t):
        if self.recall_first > 0:
            self.recall_first -= 1
            return dict(fail("SYSTEMERROR", "系统超时，请重新调用撤销"), recall="Y")
        no = f.get("out_trade_no", "")
        p = self.payments.get(no)
        if p is None:
            # Never seen: a pay that arrives later can never charge it.
            self.payments[no] = {"out_trade_no": no, "code": None, "amount": 0, "fee_type": "CNY", "created": t,
                                 "state": "REVOKED", "txn": None, "paid_at": None, "reversed_at": t, "refund_count": 0}
            return dict(fail("ORDERNOTEXIST", "此交易订单号不存在"), recall="N")
        self.settle(p, t)
        if t - p["created"] > 7 * 86400:
            return dict(fail("REVERSE_EXPIRE", "订单已经超过撤销时限"), recall="N")
        if p["state"] == "SUCCESS" and self.refunded(no) > 0:
            return dict(fail("TRADE_ERROR", "订单已退款，不能撤销"), recall="N")
        if p["state"] != "REVOKED":
            p["reversed_paid"] = p["state"] == "SUCCESS"
            p["state"] = "REVOKED"
            p["reversed_at"] = t
            p["reverse_id"] = self.next_id("50000")
        return {"result_code": "SUCCESS", "recall": "N"}

    def refund(self, f, t):
        no, rno = f.get("out_trade_no", ""), f.get("out_refund_no", "")
        try:
            total, fee = int(f.get("total_fee", "")), int(f.get("refund_fee", ""))
        except ValueError:
            return fail("PARAM_ERROR", "参数错误")
        if not rno or fee <= 0:
            return fail("PARAM_ERROR", "参数错误")
        p = self.payments.get(no)
        if p is None or p.get("code") is None:
            return fail("ORDERNOTEXIST", "订单不存在")
        self.settle(p, t)
        if p["state"] != "SUCCESS":
            return fail("ERROR", "订单状态错误，不能退款")
        if total != p["amount"]:
            return fail("PARAM_ERROR", "订单金额与实际不符")
        r = self.refunds.get(rno)
        if r is not None:
            if r["out_trade_no"] != no or r["amount"] != fee:
                return fail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
        else:
            if self.refund_refusals:
                code = self.refund_refusals.pop(0)
                return fail(code, REFUND_REFUSAL_TEXT.get(code, "退款失败"))
            if self.refunded(no) + fee > p["amount"]:
                return fail("ERROR", "累计退款金额大于支付金额")
            if p["refund_count"] >= 50:
                return fail("ERROR", "退款次数超过限制")
            p["refund_count"] += 1
            r = {"out_refund_no": rno, "out_trade_no": no, "amount": fee, "refund_id": self.next_id("50300"),
                 "created": t, "settle_at": t + self.refund_settle_seconds, "status": "PROCESSING", "success_at": None}
            self.refunds[rno] = r
            self.settle(p, t)
        return {"result_code": "SUCCESS", "transaction_id": p["txn"], "out_trade_no": no, "out_refund_no": rno,
                "refund_id": r["refund_id"], "refund_fee": str(fee), "total_fee": str(p["amount"]),
                "cash_fee": str(p["amount"]), "cash_refund_fee": str(fee), "refund_channel": ""}

    def refundquery(self, f, t):
        rno, no = f.get("out_refund_no", ""), f.get("out_trade_no", "")
        if rno:
            r = self.refunds.get(rno)
            if r is None:
                return fail("REFUNDNOTEXIST", "退款订单查询失败")
            chosen = [r]
        else:
            chosen = [r for r in self.refunds.values() if r["out_trade_no"] == no]
            if not chosen:
                return fail("REFUNDNOTEXIST", "退款订单查询失败")
        p = self.payments[chosen[0]["out_trade_no"]]
        self.settle(p, t)
        out = {"result_code": "SUCCESS", "transaction_id": p["txn"], "out_trade_no": p["out_trade_no"],
               "total_fee": str(p["amount"]), "cash_fee": str(p["amount"]), "refund_count": str(len(chosen)),
               "total_refund_count": str(sum(1 for r in self.refunds.values() if r["out_trade_no"] == p["out_trade_no"]))}
        for n, r in enumerate(chosen):
            out["out_refund_no_%d" % n] = r["out_refund_no"]
            out["refund_id_%d" % n] = r["refund_id"]
            out["refund_fee_%d" % n] = str(r["amount"])
            out["refund_status_%d" % n] = r["status"]
            out["refund_channel_%d" % n] = "ORIGINAL"
            if r["success_at"] is not None:
                out["refund_success_time_%d" % n] = beijing(r["success_at"]).strftime("%Y-%m-%d %H:%M:%S")
        return out

    def bill(self, f, t):
        day = f.get("bill_date", "")
        kind = f.get("bill_type", "ALL")
        for p in self.payments.values():
            self.settle(p, t)
        rows = []

        def same_day(ts):
            return ts is not None and beijing(ts).strftime("%Y%m%d") == day

        def row(ts, p, state, refund=None, returned=0):
            a = self.args
            return ["`" + x for x in [
                beijing(ts).strftime("%Y-%m-%d %H:%M:%S"), a.appid, a.mch_id, "0", p.get("device_info", ""),
                p["txn"] or "", p["out_trade_no"], "oSimulatedBuyer0000000000000", "MICROPAY", state, "OTHERS",
                "CNY", fen_text(p["amount"] if state == "SUCCESS" else 0), "0.00",
                (refund["refund_id"] if refund else (p.get("reverse_id", "0") if state == "REVOKED" else "0")),
                (refund["out_refund_no"] if refund else "0"),
                fen_text(refund["amount"] if refund else returned), "0.00",
                ("ORIGINAL" if refund or state == "REVOKED" else ""), (refund["status"] if refund else ("SUCCESS" if state == "REVOKED" else "")),
                p.get("body", ""), "", "0.00000", "0.60%", fen_text(p["amount"] if state == "SUCCESS" else 0),
                fen_text(refund["amount"] if refund else returned), ""]]

        for p in self.payments.values():
            if p.get("paid_at") is not None and same_day(p["paid_at"]) and kind in ("ALL", "SUCCESS"):
                rows.append((p["paid_at"], row(p["paid_at"], p, "SUCCESS")))
            if p.get("reversed_paid") and same_day(p.get("reversed_at")) and kind in ("ALL", "REFUND"):
                rows.append((p["reversed_at"], row(p["reversed_at"], p, "REVOKED", returned=p["amount"])))
        for r in self.refunds.values():
            if same_day(r["created"]) and kind in ("ALL", "REFUND"):
                rows.append((r["created"], row(r["created"], self.payments[r["out_trade_no"]], "REFUND", refund=r)))
        if not rows:
            return None
        rows.sort(key=lambda x: x[0])
        paid = sum(p["amount"] for p in self.payments.values() if p.get("paid_at") is not None and same_day(p["paid_at"]))
        refunded = sum(r["amount"] for r in self.refunds.values() if same_day(r["created"]))
        lines = [BILL_HEADER] + [",".join(fields) for _, fields in rows] + [BILL_TOTALS_HEADER]
        lines.append(",".join("`" + x for x in [str(len(rows)), fen_text(paid), fen_text(refunded), "0.00", "0.00000",
                                                fen_text(paid), fen_text(refunded)]))
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def state(self):
        with self.lock:
            t = now_s()
            for p in self.payments.values():
                self.settle(p, t)
            return {"payments": self.payments, "refunds": self.refunds, "calls": self.calls,
                    "tls_refusals": self.tls_refusals}

    def books(self):
        """The money as the provider sees it now: what each payment charged (and kept, returned or
        refunded), and the pay calls that reached each payment (a second one is a second charge
        attempt the merchant made)."""
        with self.lock:
            t = now_s()
            for p in self.payments.values():
                self.settle(p, t)
            pays = {}
            for c in self.calls:
                # Refused calls (bad signature, foreign merchant) never reached the books.
                if c["path"] == "/pay/micropay" and "out_trade_no" in c and not c.get("outcome", "").startswith("refused"):
                    pays[c["out_trade_no"]] = pays.get(c["out_trade_no"], 0) + 1

            def day(ts):
                return None if ts is None else beijing(ts).strftime("%Y-%m-%d")

            payments = {}
            for no, p in self.payments.items():
                charged = p["amount"] if p.get("paid_at") is not None else 0
                returned = p["amount"] if p.get("reversed_paid") else 0
                payments[no] = {"state": p["state"], "amount": p["amount"], "code": p.get("code"),
                                "transaction_id": p.get("txn"), "charged": charged, "returned": returned,
                                "refunded": self.refunded(no), "pay_calls": pays.get(no, 0),
                                "paid_day": day(p.get("paid_at")),
                                "reversed_day": day(p.get("reversed_at")) if p["state"] == "REVOKED" else None}
            refunds = {rno: {"out_trade_no": r["out_trade_no"], "amount": r["amount"], "status": r["status"],
                             "day": day(r["created"])} for rno, r in self.refunds.items()}
            return {"payments": payments, "refunds": refunds,
                    "totals": {"charged": sum(p["charged"] for p in payments.values()),
                               "returned": sum(p["returned"] for p in payments.values()),
                               "refunded": sum(r["amount"] for r in refunds.values())}}


def fail(code, des):
    return {"result_code": "FAIL", "err_code": code, "err_code_des": des}


# ----------------------------------------------------------------------------------------------
# HTTP


ROUTES = {"/pay/micropay": ("micropay", False), "/pay/orderquery": ("orderquery", False),
          "/secapi/pay/reverse": ("reverse", True), "/secapi/pay/refund": ("refund", True),
          "/pay/refundquery": ("refundquery", False), "/pay/downloadbill": ("bill", False)}


class APIHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, *args):
        pass

    def do_POST(self):
        sim = self.server.sim
        route = ROUTES.get(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if route is None or length > MAX_BODY:
            return self.send(404 if route is None else 413, b"", "text/plain")
        body = self.rfile.read(length)
        name, needs_cert = route
        t = now_s()
        record = {"listener": self.server.listener_name, "path": self.path, "time": t}
        sim_sign_type = "MD5"
        try:
            f = parse_xml(body)
            sim_sign_type = f.get("sign_type") or "MD5"
            record.update({k: f[k] for k in ("out_trade_no", "out_refund_no", "auth_code", "bill_date") if k in f})
            if f.get("appid") != sim.args.appid or f.get("mch_id") != sim.args.mch_id:
                raise Refusal("appid and mch_id do not match")
            if sim_sign_type not in ("MD5", "HMAC-SHA256"):
                raise Refusal("sign_type is not MD5 or HMAC-SHA256")
            if not f.get("nonce_str") or len(f["nonce_str"]) > 32:
                raise Refusal("nonce_str is missing or longer than 32")
            if f.get("sign") != signature(f, sim.key, sim_sign_type):
                raise Refusal("签名错误")
            if needs_cert:
                cert = self.connection.getpeercert()
                if not cert:
                    raise Refusal("no client certificate: this call needs the merchant's API certificate")
                cn = dict(x[0] for x in cert.get("subject", ()))
                if cn.get("commonName") != sim.args.mch_id:
                    raise Refusal("the client certificate is not this merchant's")
        except Refusal as refusal:
            record["outcome"] = "refused: %s" % refusal
            with sim.lock:
                sim.calls.append(record)
            return self.send(200, to_xml({"return_code": "FAIL", "return_msg": str(refusal)}), "text/xml")

        with sim.lock:
            answer = getattr(sim, name)(f, t)
            drop = sim.drops.get(self.path, 0)
            if drop > 0:
                sim.drops[self.path] = drop - 1
            delay = sim.delays.get(self.path, 0)
            if name == "micropay" and sim.payments.get(f.get("out_trade_no", ""), {}).get("slow"):
                delay = max(delay, sim.slow_seconds)
            bad_sign = self.path in sim.bad_sign or "*" in sim.bad_sign
            foreign = self.path in sim.foreign_appid or "*" in sim.foreign_appid
            record["outcome"] = "answered" if drop == 0 else "dropped"
            if isinstance(answer, dict):
                record["result"] = answer.get("err_code") or answer.get("result_code")
            sim.calls.append(record)
        if delay:
            time.sleep(delay)
        if drop > 0:
            self.close_connection = True
            return
        if name == "bill":
            if answer is None:
                return self.send(200, to_xml({"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"}), "text/xml")
            return self.send(200, answer, "text/plain;charset=utf-8")
        fields = {"return_code": "SUCCESS", "return_msg": "OK",
                  "appid": "wx0000000000000000" if foreign else sim.args.appid, "mch_id": sim.args.mch_id,
                  "nonce_str": secrets.token_hex(8)}
        if f.get("device_info"):
            fields["device_info"] = f["device_info"]
        fields.update(answer)
        fields["sign"] = signature(fields, ("0" * 32) if bad_sign else sim.key, sim_sign_type)
        self.send(200, to_xml(fields), "text/xml")

    def send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One domain: HTTPS, TLS handshakes on the connection's own thread, connections tracked so that
    taking the domain down also cuts the connections it had."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, context, name, sim):
        self.context = context
        self.listener_name = name
        self.sim = sim
        self.live = set()
        self.live_lock = threading.Lock()
        super().__init__(address, APIHandler)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            with self.sim.lock:
                self.sim.tls_refusals.append({"listener": self.listener_name, "error": str(error)[:200]})
            try:
                request.close()
            except OSError:
                pass
            return
        with self.live_lock:
            self.live.add(tls)
        try:
            APIHandler(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self.live_lock:
                self.live.discard(tls)
            try:
                tls.close()
            except OSError:
                pass


class Listener:
    def __init__(self, name, context, sim):
        self.name, self.context, self.sim = name, context, sim
        self.port = 0
        self.server = None
        self.lock = threading.Lock()

    def up(self):
        with self.lock:
            if self.server is not None:
                return
            server = TLSServer(("127.0.0.1", self.port), self.context, self.name, self.sim)
            self.port = server.server_address[1]
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.server = server

    def down(self):
        with self.lock:
            server, self.server = self.server, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            with server.live_lock:
                live = list(server.live)
            for s in live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/books":
            return self.reply(200, self.server.sim.books())
        if self.path != "/state":
            return self.reply(404, {"error": "no such path"})
        self.reply(200, self.server.sim.state())

    def do_POST(self):
        if self.path != "/control":
            return self.reply(404, {"error": "no such path"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            order = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply(400, {"error": "not JSON"})
        sim, listeners = self.server.sim, self.server.listeners
        for name in ("primary", "backup"):
            if ("%s_down" % name) in order:
                (listeners[name].down if order["%s_down" % name] else listeners[name].up)()
        with sim.lock:
            if "delays" in order:
                sim.delays.update({k: float(v) for k, v in order["delays"].items()})
            if "drops" in order:
                sim.drops.update({k: int(v) for k, v in order["drops"].items()})
            if "bad_sign" in order:
                sim.bad_sign = set(order["bad_sign"])
            if "foreign_appid" in order:
                sim.foreign_appid = set(order["foreign_appid"])
            if "refund_refusals" in order:
                sim.refund_refusals = [str(code) for code in order["refund_refusals"]]
            for key in ("system_error_pays", "recall_first"):
                if key in order:
                    setattr(sim, key, int(order[key]))
            if "userpaying_seconds" in order:
                sim.userpaying_seconds = None if order["userpaying_seconds"] is None else float(order["userpaying_seconds"])
            for key in ("confirm_seconds", "refund_settle_seconds", "slow_seconds"):
                if key in order:
                    setattr(sim, key, float(order[key]))
        self.reply(200, {"ok": True})

    def reply(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# ----------------------------------------------------------------------------------------------
# Certificates


def make_pki(directory, mch_id):
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def issue(name, subject, ca, extensions):
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject)
        with open(os.path.join(directory, name + ".ext"), "w") as ext:
            ext.write(extensions)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=WeChat Pay Simulator CA")
    openssl("req", "-x509", *ec, "-keyout", "stranger-ca.key", "-out", "stranger-ca.pem", "-days", "2", "-subj", "/CN=Stranger CA")
    issue("server", "/CN=api.mch.weixin.qq.com", "ca",
          "subjectAltName=DNS:localhost,DNS:api.mch.weixin.qq.com,DNS:api2.mch.weixin.qq.com,IP:127.0.0.1\n"
          "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    client_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    issue("apiclient", "/CN=%s/O=WeChat Pay Simulator Merchant" % mch_id, "ca", client_ext)
    issue("stranger", "/CN=%s/O=Stranger" % mch_id, "stranger-ca", client_ext)
    for name in os.listdir(directory):
        if name.endswith(".key"):
            os.chmod(os.path.join(directory, name), 0o600)
    return {"ca_file": os.path.join(directory, "ca.pem"),
            "server_cert": os.path.join(directory, "server.pem"), "server_key": os.path.join(directory, "server.key"),
            "client_cert_file": os.path.join(directory, "apiclient.pem"),
            "client_key_file": os.path.join(directory, "apiclient.key"),
            "stranger_cert_file": os.path.join(directory, "stranger.pem"),
            "stranger_key_file": os.path.join(directory, "stranger.key")}


# ----------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description="WeChat Pay API v2 simulator (tests only)")
    parser.add_argument("--dir", required=True, help="where the certificates and the API key file are made")
    parser.add_argument("--appid", default="wx2421b1c4370ec43b")
    parser.add_argument("--mch-id", dest="mch_id", default="10000100")
    parser.add_argument("--api-key", dest="api_key", help="32 characters; made at random when absent")
    parser.add_argument("--primary-down", action="store_true", help="the primary listener refuses connections")
    parser.add_argument("--confirm-seconds", type=float, default=2.0)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--auto-revoke-seconds", type=float, default=45.0)
    parser.add_argument("--refund-settle-seconds", type=float, default=0.0)
    parser.add_argument("--system-error-pays", type=int, default=0)
    parser.add_argument("--recall-first", type=int, default=0)
    parser.add_argument("--bad-sign", action="append", help="a path whose answers are signed badly ('*': all)")
    parser.add_argument("--delay", type=lambda s: (s.split("=")[0], float(s.split("=")[1])), action="append",
                        help="PATH=SECONDS: process, then sleep that long before answering")
    parser.add_argument("--max-lifetime-seconds", type=float, default=900.0)
    args = parser.parse_args()

    pki = make_pki(args.dir, args.mch_id)
    key = args.api_key or secrets.token_hex(16)
    key_file = os.path.join(args.dir, "api_key")
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(key + "\n")
    sim = Simulator(args, key)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca_file"])
    context.verify_mode = ssl.CERT_OPTIONAL
    listeners = {"primary": Listener("primary", context, sim), "backup": Listener("backup", context, sim)}
    for listener in listeners.values():
        listener.up()
    if args.primary_down:
        listeners["primary"].down()

    control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ControlHandler)
    control.daemon_threads = True
    control.sim, control.listeners = sim, listeners
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    print(json.dumps({"primary_port": listeners["primary"].port, "backup_port": listeners["backup"].port,
                      "control_port": control.server_address[1], "appid": args.appid, "mch_id": args.mch_id,
                      "api_key_file": key_file, "ca_file": pki["ca_file"],
                      "client_cert_file": pki["client_cert_file"], "client_key_file": pki["client_key_file"],
                      "stranger_cert_file": pki["stranger_cert_file"], "stranger_key_file": pki["stranger_key_file"]}),
          flush=True)

    parent = os.getppid()
    deadline = time.monotonic() + args.max_lifetime_seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


if __name__ == "__main__":
    main()
