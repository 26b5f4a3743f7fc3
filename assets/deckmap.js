/* GridPulse: renders the map spec that pydeck built on the server with the local deck.gl bundle
 * (/vendor/deck.js, loaded before this file). One deck per container; the camera is set only when a
 * new place is shown (spec.viewKey changes), never by live updates, which replace one layer's data.
 * Clicks go back to the server through dash_clientside.set_props into a dcc.Store.
 */
(function () {
  "use strict";
  var maps = {};
  window.gpMaps = maps;
  // A short timeline for profiling (bench/dashboard_bench.py, docs/BENCHMARKS.md): capped, so a wall screen never grows it.
  window.gpTrace = [];
  function trace(label) { if (window.gpTrace && window.gpTrace.length < 300) window.gpTrace.push([label, performance.now()]); }

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

  /* The base map (GRIDPULSE_BASEMAP_URL, an XYZ template): the web-mercator tiles that cover the view, one
   * BitmapLayer each, from @deck.gl/layers (deck.gl's TileLayer would need geo-layers, mesh-layers and the
   * extensions: as big again as the rest of the map's JavaScript). Ids are per tile, so deck.gl keeps the
   * images of tiles that stay in view; redrawn when the view moves. */
  var MAX_TILES = 48;
  function basemapLayers(m, url) {
    var vp = m.deck.getViewports && m.deck.getViewports()[0];
    if (!vp || !vp.getBounds) return [];
    var b = vp.getBounds();
    var z = Math.max(0, Math.min(19, Math.round(vp.zoom)));
    function tx(lon, n) { return Math.floor((lon + 180) / 360 * n); }
    function ty(lat, n) {
      var r = Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180;
      return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n);
    }
    function lon(x, n) { return x / n * 360 - 180; }
    function lat(y, n) { var k = Math.PI - 2 * Math.PI * y / n; return 180 / Math.PI * Math.atan(0.5 * (Math.exp(k) - Math.exp(-k))); }
    var n, x0, x1, y0, y1;
    for (; z >= 0; z--) {  // a pitched view sees far: coarser tiles rather than too many
      n = Math.pow(2, z);
      x0 = Math.max(0, tx(b[0], n)); x1 = Math.min(n - 1, tx(b[2], n));
      y0 = Math.max(0, ty(b[3], n)); y1 = Math.min(n - 1, ty(b[1], n));
      if ((x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES) break;
    }
    var out = [];
    for (var x = x0; x <= x1; x++) {
      for (var y = y0; y <= y1; y++) {
        out.push(new window.deck.BitmapLayer({
          id: "basemap-" + z + "-" + x + "-" + y,
          image: url.replace("{z}", z).replace("{x}", x).replace("{y}", y),
          bounds: [lon(x, n), lat(y + 1, n), lon(x + 1, n), lat(y, n)]
        }));
      }
    }
    return out;
  }

  function allLoaded(m) {
    try {
      return m.deck.props.layers.every(function (l) { return l.isLoaded; });
    } catch (e) { return false; }
  }

  function emitClick(m, info) {
    var o = info && info.object;
    if (!o || !m.cfg.click || !window.dash_clientside) return false;
    window.dash_clientside.set_props(m.cfg.click, {data: {
      layer: info.layer && info.layer.id, kind: o.kind, id: o.id, code: o.code || null, floor: o.floor || null, t: Date.now()
    }});
    return true;
  }

  /* A point picker (cfg.pickPoint: a store's id): a tap (a pointer that went down and up in place, finger or
   * mouse) anywhere on the ground puts its longitude/latitude into that store; a drag still pans the map. What
   * the point means (inside the user's grids or not) is the server's to say. */
  function pickPoint(m, canvas, e) {
    var vp = m.deck.getViewports && m.deck.getViewports()[0];
    if (!canvas || !vp || !window.dash_clientside) return;
    var box = canvas.getBoundingClientRect();
    var ll = vp.unproject([e.clientX - box.left, e.clientY - box.top]);
    if (!ll || !isFinite(ll[0]) || !isFinite(ll[1])) return;
    window.dash_clientside.set_props(m.cfg.pickPoint, {data: {lon: ll[0], lat: ll[1], source: "map", t: Date.now()}});
    trace("pick-point");
  }

  /* A click on an object acts at once, on pointerup. deck.gl's own click waits until a double click is ruled
   * out (the controller's double-click zoom: 300 ms) and, on a software GPU, for its picking pass; a click on
   * empty ground still reaches deck.gl, so double-click zoom works there. */
  function listenForClicks(m) {
    var down = null;
    m.el.addEventListener("pointerdown", function (e) {
      down = e.button === 0 ? {x: e.clientX, y: e.clientY, t: performance.now()} : null;
      // deck.gl picked on its canvas already: let the server start on the level this is likely to open
      var o = down && m.cfg.prefetch && m.deck._lastPointerDownInfo && m.deck._lastPointerDownInfo.object;
      if (o && (o.kind === "building" || (o.kind === "grid" && o.code))) {
        var place = o.kind === "grid" ? "grid:" + o.code : "building:" + parseInt(o.id, 10);
        // every POST of a session carries its CSRF token, as Dash's own requests do (dashboard/auth.py)
        var csrf = (document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/) || [])[1] || "";
        fetch(m.cfg.prefetch, {method: "POST", credentials: "same-origin",
                               headers: {"Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf)},
                               body: JSON.stringify({search: "?place=" + place})}).catch(function () {});
        trace("prefetch");
      }
    });
    m.el.addEventListener("pointerup", function (e) {
      var d = down; down = null;
      if (!d || Math.abs(e.clientX - d.x) > 4 || Math.abs(e.clientY - d.y) > 4 || performance.now() - d.t > 2000) return;
      var canvas = m.deck.getCanvas && m.deck.getCanvas();
      if (m.cfg.pickPoint) { pickPoint(m, canvas, e); return; }
      if (!canvas || !m.loaded) return;
      // deck.gl picked at pointerdown already (WebGL picks synchronously): reuse it rather than pick again
      var info = m.deck._lastPointerDownInfo;
      if (!info || !info.object) {
        var box = canvas.getBoundingClientRect();
        try { info = m.deck.pickObject({x: e.clientX - box.left, y: e.clientY - box.top, radius: 2}); } catch (err) { return; }
      }
      trace("pointerup-pick");
      if (emitClick(m, info)) {
        m.clickedAt = performance.now();
        // The click opens another place: drop the hover pick still pending from the pointer's move here, whose
        // highlight frame would only hold up the page (on a software GPU, ~100 ms) before the place is shown.
        if (m.deck._pickRequest) m.deck._pickRequest.event = null;
      }
    });
  }

  // The wall screen (cfg.wall): the camera fits the jurisdiction (spec.fitBounds) to the container it is drawn in,
  // and what is drawn in pixels (gate and alert markers, outlines, arrows) grows with the screen beyond 1920 px
  // wide, as everything drawn in metres grows with the fitted zoom: a 4K wall shows what a 1080p one shows.
  function fitted(el, spec, cfg) {
    var b = spec.fitBounds, w = el.clientWidth, h = el.clientHeight;
    if (!cfg || !cfg.wall || !b || !w || !h || !window.deck.WebMercatorViewport) return spec.initialViewState;
    var vp = new window.deck.WebMercatorViewport({width: w, height: h})
      .fitBounds([[b[0], b[1]], [b[2], b[3]]], {padding: Math.round(Math.min(w, h) * 0.04)});
    el.dataset.fitZoom = vp.zoom.toFixed(3);
    return Object.assign({}, spec.initialViewState, {longitude: vp.longitude, latitude: vp.latitude, zoom: vp.zoom});
  }

  function screenScale(m) {
    return m.cfg && m.cfg.wall ? Math.max(1, window.innerWidth / 1920) : 1;
  }

  function scaled(m, layer) {
    var s = screenScale(m), p = layer.props, up = {};
    if (s === 1) return layer;
    if (p.radiusUnits === "pixels") up.radiusScale = (p.radiusScale || 1) * s;
    if (p.widthUnits === "pixels") { up.widthScale = (p.widthScale || 1) * s; up.widthMinPixels = (p.widthMinPixels || 0) * s; }
    if (p.lineWidthMinPixels) up.lineWidthMinPixels = p.lineWidthMinPixels * s;
    m.el.dataset.symbolScale = s.toFixed(3);
    return layer.clone(up);
  }

  function create(el, spec, cfg) {
    var m = {el: el, layers: {}, order: [], specKey: null, viewKey: null, renders: 0, loaded: false, cfg: cfg, bbox: {},
             conv: converter(), created: performance.now(), clickedAt: 0};
    m.deck = new window.deck.Deck({
      parent: el, initialViewState: fitted(el, spec, cfg), controller: true, getTooltip: tooltip,
      // Picking a big layer can take longer than the default 250 ms tap: a high limit keeps clicks.
      eventRecognizerOptions: {click: {time: 2000}, tap: {time: 2000}},
      deviceProps: {webgl: {preserveDrawingBuffer: true}},
      onClick: function (info) {
        trace("click");
        if (m.cfg.pickPoint) return;  // a point picker: the tap was taken on pointerup
        if (performance.now() - m.clickedAt < 2500) { m.clickedAt = 0; return; }  // already sent on pointerup
        emitClick(m, info);
      },
      onViewStateChange: function () {
        if (m.basemap && m.order.length && !m.tilesQueued) {
          m.tilesQueued = true;
          requestAnimationFrame(function () { m.tilesQueued = false; redraw(m); });
        }
      },
      onBeforeRender: function () { trace("before-render"); },
      onAfterRender: function () {
        trace("after-render");
        if (m.tilesPending) { m.tilesPending = false; setTimeout(function () { redraw(m); }, 0); }
        if (m.spec && (m.spec.zoomDwellings || m.spec.bboxLayers || m.spec.zoomRanges)) {
          clearTimeout(m.zoomTimer);
          m.zoomTimer = setTimeout(function () { checkLevelOfDetail(m); checkZoom(m); }, 200);
        }
        m.renders += 1;
        m.el.dataset.renders = String(m.renders);
        if (!m.loaded && m.order.length && allLoaded(m)) {
          m.loaded = true;
          m.el.dataset.loaded = "1";
          loadDeferred(m);
          window.gpFirstLoadMs = performance.now();
          trace("loaded");
          // Pick once, now, while nobody waits: the deck's first pick builds the picking pipelines (on a software
          // GPU ~100 ms of the click, ~0.4 s of GPU work in all), which would otherwise be paid by the first hover
          // or click. Later places reuse them. Not on maps nobody clicks (the wall screen: cfg.warmPick false).
          if (!m.warmed && m.cfg.warmPick !== false) {
            m.warmed = true;
            setTimeout(function () {
              try { m.deck.pickObject({x: 1, y: 1, radius: 0}); trace("warm-pick"); } catch (e) { /* nothing yet */ }
            }, 30);
          }
        }
      },
      onError: function (err) { m.el.dataset.error = String(err && err.message || err); }
    });
    listenForClicks(m);
    return m;
  }

  /* Zoomed into a building on a map whose spec asks for it (spec.zoomDwellings: the one map), its dwellings
   * floor by floor from /layers/dwellings/<id>.json (the server checks the building against the viewer's
   * jurisdiction), drawn inside the buildings, which turn see-through meanwhile. Checked once the view has
   * settled (200 ms after the last frame). */
  function buildingRows(m) {
    var rows = m.layers.buildings && m.layers.buildings.props.data;
    if (Array.isArray(rows)) return rows;
    var live = (m.deck.props.layers || []).filter(function (l) { return l.id === "buildings"; })[0];
    return live && Array.isArray(live.props.data) ? live.props.data : [];  // loaded by deck.gl from a URL
  }

  function buildingAt(m, lon, lat) {
    var best = null, bestD = Infinity, k = Math.cos(lat * Math.PI / 180);
    buildingRows(m).forEach(function (r) {
      var ring = r.polygon[0], x = 0, y = 0, n = ring.length - 1;
      for (var i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
      var dx = (x / n - lon) * k, dy = y / n - lat, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = r; }
    });
    return best && Math.sqrt(bestD) * 111320 < 80 ? best : null;  // its centre within 80 m of the view's
  }

  function checkZoom(m) {
    var z = m.spec && m.spec.zoomDwellings;
    var vp = z && m.loaded && m.deck.getViewports()[0];
    if (!vp) return;
    var key = vp.longitude.toFixed(5) + "," + vp.latitude.toFixed(5) + "," + vp.zoom.toFixed(2);
    if (key === m.zoomKey) return;
    m.zoomKey = key;
    var b = vp.zoom >= z.minZoom ? buildingAt(m, vp.longitude, vp.latitude) : null;
    var id = b ? b.id : null;
    if (id === m.zoomBuilding) return;
    m.zoomBuilding = id;
    if (id === null) { m.zoomLayer = null; delete m.el.dataset.zoomBuilding; redraw(m); return; }
    fetchRows("/layers/dwellings/" + parseInt(id, 10) + ".json").then(function (rows) {
      if (m.zoomBuilding !== id) return;
      m.zoomLayer = m.conv.convert(Object.assign({}, z.layer, {data: rows}));
      m.el.dataset.zoomBuilding = String(id);
      redraw(m);
    }).catch(function (e) { console.error("GridPulse map:", e); });
  }

  /* Level of detail (the aggregated map of a city or district viewer, dashboard/pages/_common.city_map_spec):
   * - spec.zoomRanges {id: [min, max)}: a layer is drawn only while the zoom is in its range (districts when
   *   zoomed out, streets in between; the buildings take over past their minZoom);
   * - spec.bboxLayers {id: {url, minZoom, maxSpan, snap, fill}}: once zoomed in past minZoom, the layer's rows are
   *   the server's answer for the view's box (url?bbox=W,S,E,N&fill=…; the server applies the jurisdiction),
   *   widened to a grid of `snap` degrees and kept within `maxSpan`, asked again only when the view leaves the
   *   box loaded; zoomed out, the rows are dropped;
   * - spec.deferred {id: url}: rows fetched after the first frame (the flows), so they never delay it.
   * Checked once the view has settled, like the dwellings. The element's data-bbox-* attributes say what is loaded. */
  function zoomOf(m) {
    var vp = m.deck.getViewports && m.deck.getViewports()[0];
    return vp ? vp.zoom : m.zoom;
  }

  function inZoomRange(m, id) {
    var r = m.spec && m.spec.zoomRanges && m.spec.zoomRanges[id];
    return !r || (m.zoom >= r[0] && m.zoom < r[1]);
  }

  function rangeKey(m) {
    var ranges = (m.spec && m.spec.zoomRanges) || {};
    return Object.keys(ranges).filter(function (id) { return inZoomRange(m, id); }).join(",");
  }

  function viewBox(vp, c) {
    var b = vp.getBounds(), h = c.maxSpan / 2 - c.snap - 1e-6;
    var w = Math.max(b[0], vp.longitude - h), e = Math.min(b[2], vp.longitude + h);
    var s = Math.max(b[1], vp.latitude - h), n = Math.min(b[3], vp.latitude + h);
    return [w, s, e, n];
  }

  function snapped(box, snap) {
    var f = function (v) { return Number((Math.floor(v / snap) * snap).toFixed(6)); };
    var c = function (v) { return Number((Math.ceil(v / snap) * snap).toFixed(6)); };
    return [f(box[0]), f(box[1]), c(box[2]), c(box[3])];
  }

  function covers(outer, inner) {
    return outer && outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
  }

  function checkLevelOfDetail(m) {
    if (!m.loaded || !m.spec) return;
    var z = zoomOf(m);
    if (z === undefined) return;
    var before = rangeKey(m);
    m.zoom = z;
    m.el.dataset.zoom = z.toFixed(2);
    if (rangeKey(m) !== before) redraw(m);
    var cfgs = m.spec.bboxLayers;
    if (!cfgs) return;
    var vp = m.deck.getViewports()[0];
    Object.keys(cfgs).forEach(function (id) {
      var c = cfgs[id], st = m.bbox[id] || (m.bbox[id] = {fill: c.fill, box: null, pending: null, loads: 0});
      if (!m.layers[id]) return;
      if (z < c.minZoom) {
        st.pending = null;
        if (st.box) {
          st.box = null;
          m.layers[id] = m.layers[id].clone({data: []});
          m.el.dataset.bboxRows = "0";
          delete m.el.dataset.bboxLoaded;
          redraw(m);
        }
        return;
      }
      var view = viewBox(vp, c);
      if (covers(st.box, view) && st.loadedFill === st.fill) return;
      var want = snapped(view, c.snap), fill = st.fill;
      var key = want.join(",") + "|" + fill;
      if (key === st.pending) return;
      st.pending = key;
      fetchRows(c.url + "?bbox=" + want.join(",") + "&fill=" + encodeURIComponent(fill)).then(function (body) {
        if (st.pending !== key || m.bbox[id] !== st) return;  // a newer view (or place) was asked for meanwhile
        st.pending = null; st.box = body.bbox; st.loadedFill = fill; st.loads += 1;
        m.layers[id] = m.layers[id].clone({data: body.rows});
        m.el.dataset.bboxLoaded = body.bbox.join(",");
        m.el.dataset.bboxRows = String(body.rows.length);
        m.el.dataset.bboxTruncated = body.truncated ? "1" : "0";
        m.el.dataset.bboxLoads = String(st.loads);
        trace("bbox-loaded");
        redraw(m);
      }).catch(function (e) { st.pending = null; failed(m, e); });
    });
  }

  function loadDeferred(m) {
    var deferred = m.spec && m.spec.deferred, spec = m.spec;
    if (!deferred) return;
    Object.keys(deferred).forEach(function (id) {
      fetchRows(deferred[id]).then(function (rows) {
        if (m.spec !== spec || !m.layers[id]) return;
        m.layers[id] = m.layers[id].clone({data: rows});
        m.el.dataset.deferred = ((m.el.dataset.deferred ? m.el.dataset.deferred + "," : "") + id);
        redraw(m);
      }).catch(function (e) { failed(m, e); });
    });
  }

  function redraw(m) {
    var layers = [];
    var visible = m.visible;
    if (m.basemap) layers = basemapLayers(m, m.basemap);
    m.tilesPending = Boolean(m.basemap) && !layers.length;  // no viewport before the first frame: again after it
    m.order.forEach(function (id) {
      // an outline or label layer ("grids_outline", "compounds_label") is shown and hidden with its layer
      // Outside its zoom range a layer is left out, not hidden: deck.gl would still build a hidden layer (its
      // attributes, a label's font atlas) and the first frame would pay for what it does not show.
      if (!inZoomRange(m, id)) return;
      var on = !visible || visible.indexOf(id.replace(/_(outline|label)$/, "")) >= 0;
      if (id === "buildings" && m.zoomLayer) {
        var dwellingsOn = !visible || visible.indexOf("dwellings") >= 0;
        layers.push(m.zoomLayer.clone({visible: dwellingsOn}));
        layers.push(m.layers[id].clone({visible: on, opacity: dwellingsOn ? 0.25 : 1}));
        return;
      }
      layers.push(m.layers[id].clone({visible: on}));
    });
    m.deck.setProps({layers: layers});
  }

  /* The big layers' rows come from the cached routes (/layers/<name>.json; the page preloads them). They are
   * fetched here, before the layers are made, so the first frame draws every layer at once: on a software GPU
   * each frame waits for the previous one, and a frame without them would cost as much as one with them. */
  function fetchRows(url) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }

  function resolveData(spec) {
    return Promise.all(spec.layers.map(function (json) {
      if (typeof json.data !== "string") return json;
      return fetchRows(json.data).then(function (rows) { return Object.assign({}, json, {data: rows}); });
    }));
  }

  function applyPatch(m) {
    var patch = m.patch;
    if (!patch || !patch.layers || patch.seq === m.patchSeq) return;
    m.patchSeq = patch.seq;
    Object.keys(patch.layers).forEach(function (id) {
      var value = patch.layers[id];
      if (value && value.bboxFill) {  // a viewport-loaded layer: asked again for the view with this colouring
        var st = m.bbox[id] || (m.bbox[id] = {box: null, pending: null, loads: 0});
        st.fill = value.bboxFill; st.pending = null;
        m.el.dataset.bboxFill = value.bboxFill;
        setTimeout(function () { checkLevelOfDetail(m); }, 0);
        return;
      }
      if (m.layers[id]) m.layers[id] = m.layers[id].clone({data: value});
    });
    m.el.dataset.patch = String(patch.seq);
  }

  function softwareGpu(m) {
    if (m.software === undefined) {
      try {
        var info = m.deck.device && m.deck.device.info;
        if (!info) return false;  // not known yet: fly
        m.software = info.gpuType === "cpu" || /swiftshader|llvmpipe|software/i.test((info.renderer || "") + " " + (info.gpu || ""));
      } catch (e) { return false; }
    }
    return m.software;
  }

  function showSpec(m, spec, layerJsons) {
    m.spec = spec;
    m.layers = {}; m.order = []; m.loaded = false; delete m.el.dataset.loaded;
    m.zoomLayer = null; m.zoomBuilding = null; m.zoomKey = null; delete m.el.dataset.zoomBuilding;
    m.bbox = {}; delete m.el.dataset.bboxLoaded; delete m.el.dataset.bboxRows; delete m.el.dataset.deferred;
    if (m.viewKey === null || spec.viewKey !== m.viewKey || m.zoom === undefined) {
      m.zoom = (fitted(m.el, spec, m.cfg) || {}).zoom;
    }
    layerJsons.forEach(function (json) { m.layers[json.id] = scaled(m, m.conv.convert(json)); m.order.push(json.id); });
    m.basemap = spec.basemap || "";
    if (m.viewKey !== null && spec.viewKey !== m.viewKey) {
      // Fly to the new place; on a software GPU (no graphics card: SwiftShader) jump there instead, since every
      // frame of the flight costs it 60–100 ms of the page's main thread and delays what the place shows.
      m.deck.setProps({initialViewState: Object.assign({}, fitted(m.el, spec, m.cfg), {transitionDuration: softwareGpu(m) ? 0 : 600})});
    }
    m.viewKey = spec.viewKey;
  }

  function failed(m, e) {
    m.el.dataset.error = String(e && e.message || e);
    console.error("GridPulse map:", e);
  }

  function render(spec, patch, visible, cfg) {
    trace("render-callback");
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
      listenForClicks(m);
    }
    try {
      if (!m) { m = maps[cfg.container] = create(el, spec, cfg); window.gpDeckCreatedMs = m.created; }
      m.patch = patch; m.visible = visible;
      var key = JSON.stringify(spec.layers.map(function (l) { return l.id; })) + "|" + spec.viewKey + "|" + (spec.seq || "");
      if (key !== m.specKey) {
        m.specKey = key;
        m.resolving = false;
        if (spec.layers.some(function (l) { return typeof l.data === "string"; })) {
          m.resolving = true;
          resolveData(spec).then(function (jsons) {
            if (m.specKey !== key) return;  // a newer place was asked for meanwhile
            m.resolving = false;
            try { showSpec(m, spec, jsons); applyPatch(m); redraw(m); trace("set-layers"); delete m.el.dataset.error; }
            catch (e) { failed(m, e); }
          }).catch(function (e) { failed(m, e); });
          return Date.now();
        }
        showSpec(m, spec, spec.layers);
      }
      if (m.order.length && !m.resolving) {
        applyPatch(m);
        redraw(m);
        trace("set-layers");
      }
      delete el.dataset.error;
    } catch (e) {
      failed(m || {el: el}, e);
    }
    return Date.now();
  }

  /* The wall screen's watchdog: when refreshes stop for 30 s (the server restarted or the network dropped),
   * the page is stale; at the first sign of the server again (its own probe of /login, or a refresh that
   * gets through first) it reloads, so it picks up the new server's layout. A gap shorter than 30 s only
   * pauses the refreshes. */
  var lastBeat = Date.now();
  var stale = false;
  function reloadOnce() { if (!window.gpReloading) { window.gpReloading = true; window.location.reload(); } }
  function heartbeat(beat) {
    if (beat) {
      if (stale || Date.now() - lastBeat >= 30000) reloadOnce();
      lastBeat = Date.now();
      window.gpLastBeat = beat;
    }
    return Date.now();
  }
  setInterval(function () {
    if (!document.querySelector(".wall")) return;
    if (Date.now() - lastBeat >= 30000) stale = true;
    if (!stale) return;
    fetch("/login", {cache: "no-store"}).then(function (r) { if (r.ok) reloadOnce(); }).catch(function () {});
  }, 5000);

  window.dash_clientside = Object.assign({}, window.dash_clientside, {gp: {render: render, heartbeat: heartbeat}});
})();
