// The page: sign-in, the period (two dates and presets), the tiles and the charts.
// Every failure is shown in the alert region; a customer's token gets "admins only".
"use strict";
(() => {
  const { api, charts, format } = window.Dashboard;
  const $ = (id) => document.getElementById(id);
  const DAY_MS = 86400000;
  let asked = 0; // the latest request wins; older answers are dropped

  // --- messages -----------------------------------------------------------------
  function showError(error) {
    const alert = $("alert");
    if (error.code === "FORBIDDEN") {
      alert.textContent = "This dashboard is for admins only: this account may not see the program's metrics.";
    } else {
      alert.textContent = error.code ? `${error.message} (${error.code})` : String(error.message || error);
    }
    alert.hidden = false;
  }

  function clearError() {
    $("alert").hidden = true;
    $("alert").textContent = "";
  }

  function showSignIn() {
    $("sign-in-view").hidden = false;
    $("metrics-view").hidden = true;
    $("signed-in").hidden = true;
    $("sign-in-email").focus();
  }

  function showSignedIn() {
    $("sign-in-view").hidden = true;
    $("signed-in").hidden = false;
    $("signed-in-email").textContent = api.email() || "";
  }

  // --- the period ---------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  const dateValue = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

  function localDay(value) {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d);
  }

  // Local midnight as ISO 8601 with the browser's offset, e.g. 2026-11-01T00:00:00-03:00.
  function isoMidnight(day) {
    const offset = -day.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const hours = pad(Math.floor(Math.abs(offset) / 60));
    return `${dateValue(day)}T00:00:00${sign}${hours}:${pad(Math.abs(offset) % 60)}`;
  }

  function addDays(day, n) {
    return new Date(day.getFullYear(), day.getMonth(), day.getDate() + n);
  }

  function preset(name) {
    const now = new Date();
    const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    if (name === "this-year") return [new Date(today.getFullYear(), 0, 1), today];
    return [addDays(today, name === "last-90" ? -89 : -29), today];
  }

  // The days chosen, first and last included, as the API's half-open [from, to).
  function period() {
    const from = $("period-from").value;
    const to = $("period-to").value;
    if (!from || !to) throw new api.ApiError("Choose both dates of the period.", "INVALID_PERIOD");
    const first = localDay(from);
    const end = addDays(localDay(to), 1);
    const days = Math.round((end - first) / DAY_MS);
    if (days < 1) throw new api.ApiError("The period ends before it starts.", "INVALID_PERIOD");
    // Its other limits (at most 5 years) are the API's to state.
    return { from: isoMidnight(first), to: isoMidnight(end), first, last: localDay(to), days };
  }

  function interval(days) {
    if (days <= 62) return "DAY";
    return days <= 366 ? "WEEK" : "MONTH";
  }

  // --- rendering ----------------------------------------------------------------
  function renderTiles(metrics) {
    for (const dd of document.querySelectorAll("#tiles dd")) {
      const key = dd.id.replace("metric-", "");
      dd.textContent = format[dd.dataset.kind](metrics[key]);
    }
  }

  function renderCharts(metrics) {
    charts.rates("chart-rates", metrics.series);
    charts.table(
      "table-rates",
      ["From", "Repurchase rate", "Retention rate"],
      metrics.series.map((p) => [format.day(new Date(p.from)), format.rate(p.repurchaseRate), format.rate(p.retentionRate)]),
    );
    const f = metrics.finance;
    charts.bars("chart-liability", ["Pending", "Available", "Reserved"], [f.pending, f.available, f.reserved], "No liability.");
    charts.table("table-finance", ["", "Amount"], [
      ["Pending", format.money(f.pending)],
      ["Available", format.money(f.available)],
      ["Reserved", format.money(f.reserved)],
      ["Outstanding", format.money(f.outstanding)],
      ["Issued in the period", format.money(f.issued)],
      ["Redeemed in the period", format.money(f.redeemed)],
      ["Expired in the period", format.money(f.expired)],
      ["Taken back by refunds in the period", format.money(f.reversed)],
      ["Clawed back in the period", format.money(f.clawedBack)],
      ["Forfeited in the period", format.money(f.forfeited)],
    ]);
    const channels = metrics.byChannel;
    charts.bars("chart-channels", channels.map((c) => format.channel(c.channel)), channels.map((c) => c.sales), "No sales in this period.");
    charts.table(
      "table-channels",
      ["Channel", "Active customers", "Purchases", "Sales", "Average ticket", "Redemptions", "Redeemed"],
      channels.map((c) => [
        format.channel(c.channel), format.count(c.activeCustomers), format.count(c.purchaseCount),
        format.money(c.sales), format.money(c.averageTicket), format.count(c.redemptionCount), format.money(c.redeemed),
      ]),
    );
    const offers = metrics.topOffers;
    charts.bars("chart-offers", offers.map((o) => o.title), offers.map((o) => o.cashbackIssued), "No offer was used in this period.");
    charts.table(
      "table-offers",
      ["Offer", "Activations", "Purchases", "Cashback issued"],
      offers.map((o) => [o.title, format.count(o.activations), format.count(o.purchaseCount), format.money(o.cashbackIssued)]),
    );
  }

  async function load() {
    clearError();
    let chosen;
    try {
      chosen = period();
    } catch (error) {
      showError(error);
      return;
    }
    const mine = ++asked;
    const view = $("metrics-view");
    view.setAttribute("aria-busy", "true");
    $("loading").hidden = false;
    try {
      const data = await api.query("DashboardMetrics", { from: chosen.from, to: chosen.to, interval: interval(chosen.days) });
      if (mine !== asked) return;
      const metrics = data.programMetrics;
      view.dataset.from = chosen.from;
      view.dataset.to = chosen.to;
      $("period-shown").textContent = `${format.day(chosen.first)} to ${format.day(chosen.last)}, both included`;
      renderTiles(metrics);
      renderCharts(metrics);
    } catch (error) {
      if (mine !== asked) return;
      failed(error);
    } finally {
      if (mine === asked) {
        view.removeAttribute("aria-busy");
        $("loading").hidden = true;
      }
    }
  }

  function failed(error) {
    if (error.code === "FORBIDDEN") $("metrics-view").hidden = true;
    if (error.code === "UNAUTHENTICATED" && !api.signedIn()) showSignIn();
    showError(error);
  }

  function choose(name) {
    const [first, last] = preset(name);
    $("period-from").value = dateValue(first);
    $("period-to").value = dateValue(last);
    for (const button of document.querySelectorAll("[data-preset]")) {
      button.setAttribute("aria-pressed", String(button.dataset.preset === name));
    }
    return load();
  }

  function start() {
    showSignedIn();
    $("metrics-view").hidden = false;
    return choose("last-30");
  }

  // --- events -------------------------------------------------------------------
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const button = $("sign-in-submit");
    button.disabled = true;
    try {
      await api.signIn($("sign-in-email").value.trim(), $("sign-in-password").value);
      $("sign-in-password").value = "";
      await start();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });

  $("period-form").addEventListener("submit", (event) => {
    event.preventDefault();
    for (const button of document.querySelectorAll("[data-preset]")) button.setAttribute("aria-pressed", "false");
    load();
  });

  for (const button of document.querySelectorAll("[data-preset]")) {
    button.addEventListener("click", () => choose(button.dataset.preset));
  }

  $("sign-out").addEventListener("click", async () => {
    clearError();
    showSignIn();
    try {
      await api.signOut();
    } catch (error) {
      showError(error);
    }
  });

  if (api.signedIn()) start();
  else showSignIn();
})();
