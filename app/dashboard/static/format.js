// Numbers, money and dates as the operator's browser writes them. Money amounts are
// decimal strings; Intl formats them exactly (no float rounding of the cents).
"use strict";
window.Dashboard = window.Dashboard || {};
window.Dashboard.format = (() => {
  const NONE = "n/a"; // a share or an average with nothing to measure
  const counts = new Intl.NumberFormat(undefined);
  const shares = new Intl.NumberFormat(undefined, {
    style: "percent",
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const days = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  const currencies = new Map();

  function currency(code) {
    if (!currencies.has(code)) {
      currencies.set(code, new Intl.NumberFormat(undefined, { style: "currency", currency: code }));
    }
    return currencies.get(code);
  }

  return {
    NONE,
    count: (n) => (n === null || n === undefined ? NONE : counts.format(n)),
    rate: (x) => (x === null || x === undefined ? NONE : shares.format(x)),
    money: (m) => (m ? currency(m.currencyCode).format(m.amount) : NONE),
    // A Money as a plain number, for chart heights only (never for the numbers shown).
    moneyValue: (m) => (m ? Number(m.amount) : null),
    day: (date) => days.format(date),
    channel: (c) => ({ ONLINE: "Online", IN_STORE: "In store" })[c] || c,
  };
})();
