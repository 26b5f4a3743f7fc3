/* GridPulse: renders the map spec that pydeck built on the server with the local deck.gl bundle
 * (/vendor/deck.js, loaded before this file). One deck per container; the camera is set only when a
 * new place is shown (spec.viewKey changes), never by live updates, which replace one layer's data.
 * Clicks go back to the server through dash_clientside.set_props into a dcc.Store.
 */
(function () {
  "use strict";
  var maps = {};
  window.gpMaps = maps;

  function converter() {
    var classes = {};
    Object.keys(window.deck).forEach(function (k) {
      if (/(Layer|View)$/.test(k) && typeof window.deck[k] === "function") classes[k] = window.deck[k];
    });
    return new window.deck.JSONConverter({configuration: new window.deck.JSONConfiguration({classes: classes})});
  }

  function tooltip(info) {
    var o = info && info.object;
    if (!o || !o.tip) return null;
    return {text: o.tip, style: {fontSize: "15px", background: "rgba(8,20,40,0.92)", color: "#e6eefc",
      border: "1px solid #3b6fb6", whiteSpace: "pre", padding: "6px 10px"}};
  }

  function basemapLayer(url) {
    return new window.deck.TileLayer({
      id: "basemap", data: url, minZoom: 0, maxZoom: 19, tileSize: 256,
      renderSubLayers: function (props) {
        var bb = props.tile.boundingBox;
        return new window.deck.BitmapLayer(props, {data: null, image: props.data, bounds: [bb[0][0], bb[0][1], bb[1][0], bb[1][1]]});
      }
    });
  }

  function allLoaded(m) {
    try {
      return m.deck.props.layers.every(function (l) { return l.isLoaded; });
    } catch (e) { return false; }
  }

  function create(el, spec, cfg) {
    var m = {el: el, layers: {}, order: [], specKey: null, viewKey: null, renders: 0, loaded: false, cfg: cfg,
             conv: converter(), created: performance.now()};
    m.deck = new window.deck.Deck({
      parent: el, initialViewState: spec.initialViewState, controller: true, getTooltip: tooltip,
      // Picking a big layer can take longer than the default 250 ms tap: a high limit keeps clicks.
      eventRecognizerOptions: {click: {time: 2000}, tap: {time: 2000}},
      deviceProps: {webgl: {preserveDrawingBuffer: true}},
      onClick: function (info) {
        var o = info && info.object;
        if (!o || !m.cfg.click || !window.dash_clientside) return;
        window.dash_clientside.set_props(m.cfg.click, {data: {
          layer: info.layer && info.layer.id, kind: o.kind, id: o.id, code: o.code || null, floor: o.floor || null, t: Date.now()
        }});
      },
      onAfterRender: function () {
        m.renders += 1;
        m.el.dataset.renders = String(m.renders);
        if (!m.loaded && m.order.length && allLoaded(m)) {
          m.loaded = true;
          m.el.dataset.loaded = "1";
          window.gpFirstLoadMs = performance.now();
        }
      },
      onError: function (err) { m.el.dataset.error = String(err && err.message || err); }
    });
    return m;
  }

  function redraw(m, visible) {
    var layers = [];
    if (m.basemap) layers.push(basemapLayer(m.basemap));
    m.order.forEach(function (id) {
      var on = !visible || visible.indexOf(id) >= 0;
      layers.push(m.layers[id].clone({visible: on}));
    });
    m.deck.setProps({layers: layers});
  }

  function render(spec, patch, visible, cfg) {
    if (!spec || !cfg || !window.deck) return window.dash_clientside.no_update;
    var el = document.getElementById(cfg.container);
    if (!el) return window.dash_clientside.no_update;
    var m = maps[cfg.container];
    if (m && m.el !== el) {
      // Dash re-rendered the page (a new URL): move the canvas and the deck's widgets into the new container
      // instead of making a new deck, so the WebGL context and its compiled shaders are kept.
      while (m.el.firstChild) el.appendChild(m.el.firstChild);
      m.el = el; m.cfg = cfg; m.specKey = null;
      if (m.renders) el.dataset.renders = String(m.renders);
    }
    try {
      if (!m) { m = maps[cfg.container] = create(el, spec, cfg); window.gpDeckCreatedMs = m.created; }
      var key = JSON.stringify(spec.layers.map(function (l) { return l.id; })) + "|" + spec.viewKey + "|" + (spec.seq || "");
      if (key !== m.specKey) {
        m.specKey = key;
        m.spec = spec;
        m.layers = {}; m.order = []; m.loaded = false; delete el.dataset.loaded;
        spec.layers.forEach(function (json) { m.layers[json.id] = m.conv.convert(json); m.order.push(json.id); });
        m.basemap = spec.basemap || "";
        if (m.viewKey !== null && spec.viewKey !== m.viewKey) {
          m.deck.setProps({initialViewState: Object.assign({}, spec.initialViewState, {transitionDuration: 600})});
        }
        m.viewKey = spec.viewKey;
      }
      if (patch && patch.layers && patch.seq !== m.patchSeq) {
        m.patchSeq = patch.seq;
        Object.keys(patch.layers).forEach(function (id) {
          if (m.layers[id]) m.layers[id] = m.layers[id].clone({data: patch.layers[id]});
        });
        el.dataset.patch = String(patch.seq);
      }
      redraw(m, visible);
      delete el.dataset.error;
    } catch (e) {
      el.dataset.error = String(e && e.message || e);
      console.error("GridPulse map:", e);
    }
    return Date.now();
  }

  /* The wall screen's watchdog: when refreshes stop (the server restarted or the network dropped),
   * wait until the server answers again, then reload the page so it picks up a fresh layout. */
  var lastBeat = Date.now();
  function heartbeat(beat) { if (beat) { lastBeat = Date.now(); window.gpLastBeat = beat; } return Date.now(); }
  setInterval(function () {
    if (!document.querySelector(".wall") || Date.now() - lastBeat < 30000) return;
    fetch("/login", {cache: "no-store"}).then(function (r) { if (r.ok) window.location.reload(); }).catch(function () {});
  }, 5000);

  window.dash_clientside = Object.assign({}, window.dash_clientside, {gp: {render: render, heartbeat: heartbeat}});
})();
