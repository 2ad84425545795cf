// The map: an offline basemap (Natural Earth countries from the
// `world-atlas` package, a graticule), an optional tile layer, and the
// layers of the picture: subscriptions, constraints, operational intents,
// strategic-conflict overlaps, the declaration being drawn, traffic.

import OlMap from 'ol/Map';
import View from 'ol/View';
import Feature from 'ol/Feature';
import VectorLayer from 'ol/layer/Vector';
import VectorImageLayer from 'ol/layer/VectorImage';
import TileLayer from 'ol/layer/Tile';
import Graticule from 'ol/layer/Graticule';
import VectorSource from 'ol/source/Vector';
import XYZ from 'ol/source/XYZ';
import TopoJSON from 'ol/format/TopoJSON';
import Polygon, { circular } from 'ol/geom/Polygon';
import CircleGeom from 'ol/geom/Circle';
import type Geometry from 'ol/geom/Geometry';
import { fromLonLat, toLonLat, transformExtent } from 'ol/proj';
import { Style, Fill, Stroke } from 'ol/style';
import Draw from 'ol/interaction/Draw';
import Modify from 'ol/interaction/Modify';
import { getDistance } from 'ol/sphere';
import { ScaleLine, defaults as defaultControls } from 'ol/control';
import type { FeatureLike } from 'ol/Feature';
import countriesUrl from 'world-atlas/countries-50m.json?url';

import { partyCss } from './util';
import type { Extent, Filter, Intent, Conflict, Overlap, Constraint, Subscription, LngLat } from './model';
import { extentVisible } from './model';
import { TrafficLayer, type Aircraft, type Alert } from './traffic';
export type { Aircraft, Alert };

export function extentGeometry(e: Extent): Polygon {
  if (e.circle) {
    return circular(e.circle.center, e.circle.radius_m, 64).transform('EPSG:4326', 'EPSG:3857') as Polygon;
  }
  const ring = e.polygon!.map((p) => fromLonLat(p));
  ring.push(ring[0]);
  return new Polygon([ring]);
}

function ringsGeometry(rings: LngLat[][]): Polygon[] {
  return rings
    .filter((r) => r.length >= 3)
    .map((r) => {
      const ring = r.map((p) => fromLonLat(p));
      ring.push(ring[0]);
      return new Polygon([ring]);
    });
}

export class MapView {
  map: OlMap;
  private countries = new VectorSource();
  private countriesLayer: VectorImageLayer<VectorSource>;
  private tiles: TileLayer<XYZ> | null = null;
  private intentsSrc = new VectorSource();
  private conflictsSrc = new VectorSource();
  private constraintsSrc = new VectorSource();
  private subsSrc = new VectorSource();
  private querySrc = new VectorSource();
  private previewSrc = new VectorSource();
  readonly draftSrc = new VectorSource();
  private traffic = new TrafficLayer();
  private draw: Draw | null = null;
  private modify: Modify;
  /// The features of each intent's extents, per version.
  private intentFeats = new Map<string, { version: number; state: string; feats: Feature[] }>();
  private intentsLayer!: VectorImageLayer<VectorSource>;
  selected: string | null = null;
  labels = true;
  onSelect: (id: string | null) => void = () => {};
  onDraftChange: () => void = () => {};
  private party = '';
  private styleCache = new Map<string, Style | Style[]>();

  constructor(target: HTMLElement) {
    this.countriesLayer = new VectorImageLayer({
      source: this.countries,
      style: new Style({
        fill: new Fill({ color: '#f3f0e8' }),
        stroke: new Stroke({ color: '#9a978f', width: 0.6 }),
      }),
      properties: { name: 'basemap' },
    });
    const graticule = new Graticule({
      strokeStyle: new Stroke({ color: 'rgba(60,80,120,0.25)', width: 1, lineDash: [2, 4] }),
      showLabels: true,
      wrapX: false,
    });
    const layer = (source: VectorSource, style: any, image = false, z = 0) =>
      image
        ? new VectorImageLayer({ source, style, zIndex: z, imageRatio: 1.5 })
        : new VectorLayer({ source, style, zIndex: z, updateWhileInteracting: false });
    this.map = new OlMap({
      target,
      controls: defaultControls({ attribution: false }).extend([new ScaleLine()]),
      layers: [
        this.countriesLayer,
        graticule,
        layer(this.subsSrc, this.subStyle, false, 10),
        layer(this.constraintsSrc, this.constraintStyle, false, 11),
        // Thousands of polygons: drawn to an image, transformed while panning.
        (this.intentsLayer = layer(this.intentsSrc, (f: FeatureLike) => this.intentStyle(f), true, 12) as VectorImageLayer<VectorSource>),
        layer(this.conflictsSrc, this.conflictStyle, false, 13),
        layer(this.querySrc, this.queryStyle, false, 14),
        layer(this.previewSrc, this.previewStyle, false, 15),
        layer(this.draftSrc, this.draftStyle, false, 16),
        this.traffic,
      ],
      view: new View({ center: fromLonLat([7.5, 46.8]), zoom: 7, maxZoom: 18 }),
    });
    this.modify = new Modify({ source: this.draftSrc });
    this.modify.on('modifyend', () => this.onDraftChange());
    this.map.addInteraction(this.modify);
    this.map.on('singleclick', (ev) => {
      if (this.draw) return;
      let hit: string | null = null;
      this.map.forEachFeatureAtPixel(
        ev.pixel,
        (f) => {
          const id = f.get('intent');
          if (id) {
            hit = id;
            return true;
          }
          return false;
        },
        { hitTolerance: 3 },
      );
      this.onSelect(hit);
    });
    void this.loadBasemap();
  }

  private async loadBasemap() {
    const resp = await fetch(countriesUrl);
    const topo = await resp.json();
    const feats = new TopoJSON({ layers: ['countries'] }).readFeatures(topo, {
      featureProjection: 'EPSG:3857',
    });
    this.countries.addFeatures(feats as Feature<Geometry>[]);
    this.map.set('basemapReady', true);
  }

  setParty(p: string) {
    this.party = p;
    this.styleCache.clear();
  }

  /// An XYZ tile URL ({z}/{x}/{y}) for users with a tile server; empty: none.
  setTileUrl(url: string) {
    if (this.tiles) {
      this.map.removeLayer(this.tiles);
      this.tiles = null;
    }
    if (url) {
      this.tiles = new TileLayer({ source: new XYZ({ url, crossOrigin: 'anonymous' }), zIndex: -1 });
      this.map.addLayer(this.tiles);
      this.countriesLayer.setOpacity(0.35);
    } else {
      this.countriesLayer.setOpacity(1);
    }
  }

  /// [minLng, minLat, maxLng, maxLat] of the view.
  viewBbox(): [number, number, number, number] {
    const size = this.map.getSize() || [800, 600];
    const ext = this.map.getView().calculateExtent(size);
    const [a, b, c, d] = transformExtent(ext, 'EPSG:3857', 'EPSG:4326');
    return [Math.max(-180, a), Math.max(-85, b), Math.min(180, c), Math.min(85, d)];
  }

  fitLonLat(bbox: [number, number, number, number]) {
    const ext = transformExtent(bbox, 'EPSG:4326', 'EPSG:3857');
    this.map.getView().fit(ext, { padding: [60, 60, 60, 60], maxZoom: 14, duration: 300 });
  }

  // ------------------------------------------------------------ styles

  private intentStyle(f: FeatureLike): Style | undefined {
    if (!(f as any).visible) return undefined;
    const manager: string = f.get('manager');
    const state: string = f.get('state');
    const sel = f.get('intent') === this.selected;
    const own = manager === this.party;
    const key = `${manager}|${state}|${sel}|${own}`;
    let s = this.styleCache.get(key) as Style | undefined;
    if (!s) {
      // Accepted: dashed outline, light fill; Activated: solid, stronger;
      // Nonconforming: orange outline; Contingent: red outline.
      const off = state === 'Nonconforming' ? '#f28c00' : state === 'Contingent' ? '#d40000' : null;
      s = new Style({
        fill: new Fill({ color: partyCss(manager, state === 'Activated' ? 0.35 : 0.16) }),
        stroke: new Stroke({
          color: sel ? '#111' : off || partyCss(manager, 0.95),
          width: sel ? 3 : off ? 3 : own ? 2 : 1.2,
          lineDash: state === 'Accepted' ? [6, 4] : undefined,
        }),
      });
      this.styleCache.set(key, s);
    }
    return s;
  }

  private conflictStyle = new Style({
    fill: new Fill({ color: 'rgba(220,0,0,0.45)' }),
    stroke: new Stroke({ color: '#c00', width: 2 }),
  });
  private constraintStyle = new Style({
    fill: new Fill({ color: 'rgba(120,40,160,0.12)' }),
    stroke: new Stroke({ color: '#7a2aa0', width: 1.5, lineDash: [2, 3] }),
  });
  private subStyle = new Style({
    stroke: new Stroke({ color: 'rgba(30,60,140,0.7)', width: 1.2, lineDash: [10, 6] }),
  });
  private queryStyle = new Style({
    stroke: new Stroke({ color: 'rgba(0,0,0,0.35)', width: 1, lineDash: [3, 6] }),
  });
  private previewStyle = new Style({
    fill: new Fill({ color: 'rgba(255,0,0,0.10)' }),
    stroke: new Stroke({ color: '#e00', width: 2.5, lineDash: [8, 4] }),
  });
  private draftStyle = [
    new Style({
      fill: new Fill({ color: 'rgba(0,120,255,0.18)' }),
      stroke: new Stroke({ color: '#06f', width: 2.5 }),
    }),
  ];

  // ------------------------------------------------------------ content

  /// Shows the extents of `intents` that are active at the filter's time
  /// and within its altitude band. Features live as long as their intent's
  /// version: a change of time or band only flips a flag and redraws, and
  /// a new version only replaces that intent's features.
  setIntents(intents: Iterable<Intent>, f: Filter): number {
    const seen = new Set<string>();
    const added: Feature[] = [];
    let shown = 0;
    for (const i of intents) {
      if (!i.extents || !i.extents.length) continue;
      seen.add(i.id);
      let c = this.intentFeats.get(i.id);
      if (!c || c.version !== i.version || c.state !== i.state || c.feats.length !== i.extents.length) {
        if (c) for (const x of c.feats) this.intentsSrc.removeFeature(x);
        const feats = i.extents.map((e) => {
          const feat = new Feature({ geometry: extentGeometry(e), intent: i.id, manager: i.manager, state: i.state });
          (feat as any).extent = e;
          return feat;
        });
        c = { version: i.version, state: i.state, feats };
        this.intentFeats.set(i.id, c);
        added.push(...feats);
      }
      for (const feat of c.feats) {
        const v = extentVisible((feat as any).extent as Extent, f);
        (feat as any).visible = v;
        if (v) shown++;
      }
    }
    for (const [id, c] of this.intentFeats)
      if (!seen.has(id)) {
        for (const x of c.feats) this.intentsSrc.removeFeature(x);
        this.intentFeats.delete(id);
      }
    if (added.length) this.intentsSrc.addFeatures(added);
    this.intentsLayer.changed();
    return shown;
  }

  setConflicts(conflicts: Iterable<Conflict>, f: Filter) {
    const feats: Feature[] = [];
    for (const c of conflicts)
      for (const o of c.overlaps) {
        if (!extentVisible(o, f)) continue;
        for (const g of ringsGeometry(o.rings)) feats.push(new Feature({ geometry: g, intent: c.theirs, conflict: true }));
      }
    this.conflictsSrc.clear(true);
    this.conflictsSrc.addFeatures(feats);
  }

  setConstraints(cs: Iterable<Constraint>, f: Filter) {
    const feats: Feature[] = [];
    for (const c of cs) for (const e of c.extents || []) if (extentVisible(e, f)) feats.push(new Feature(extentGeometry(e)));
    this.constraintsSrc.clear(true);
    this.constraintsSrc.addFeatures(feats);
  }

  setSubscriptions(ss: Iterable<Subscription>, f: Filter) {
    const feats: Feature[] = [];
    for (const s of ss) for (const e of s.extents || []) if (extentVisible(e, f)) feats.push(new Feature(extentGeometry(e)));
    this.subsSrc.clear(true);
    this.subsSrc.addFeatures(feats);
  }

  /// Outlines of the boxes the last intents query covered.
  setQueryBoxes(boxes: [number, number, number, number][]) {
    this.querySrc.clear(true);
    this.querySrc.addFeatures(
      boxes.map(([a, b, c, d]) => new Feature(new Polygon([[[a, b], [c, b], [c, d], [a, d], [a, b]].map((p) => fromLonLat(p))]))),
    );
  }

  /// Known extents of the intents a draft would conflict with.
  setPreview(extents: Extent[]) {
    this.previewSrc.clear(true);
    this.previewSrc.addFeatures(extents.map((e) => new Feature(extentGeometry(e))));
  }

  /// Time the last setTraffic took (ms).
  trafficBuildMs = 0;

  /// Replaces the traffic picture. Returns the number drawn.
  setTraffic(aircraft: Aircraft[], alerts: Alert[], nonconforming: Set<string>, f: Filter): number {
    const t0 = performance.now();
    this.traffic.showLabels = this.labels;
    const n = this.traffic.setTraffic(aircraft, alerts, nonconforming, f);
    this.trafficBuildMs = performance.now() - t0;
    return n;
  }

  // ------------------------------------------------------------ drawing

  startDraw(kind: 'Polygon' | 'Circle') {
    this.stopDraw();
    this.draw = new Draw({ source: this.draftSrc, type: kind });
    this.draw.on('drawend', () => {
      // Let OpenLayers add the feature first.
      setTimeout(() => {
        this.stopDraw();
        this.onDraftChange();
      });
    });
    this.map.addInteraction(this.draw);
  }

  stopDraw() {
    if (this.draw) {
      this.map.removeInteraction(this.draw);
      this.draw = null;
    }
  }

  get drawing() {
    return this.draw !== null;
  }

  /// The drawn shapes as footprints (geodesic circle radius from the
  /// projected one).
  draftFootprints(): Pick<Extent, 'polygon' | 'circle'>[] {
    const out: Pick<Extent, 'polygon' | 'circle'>[] = [];
    for (const f of this.draftSrc.getFeatures()) {
      const g = f.getGeometry();
      if (g instanceof CircleGeom) {
        const c = g.getCenter();
        const center = toLonLat(c) as LngLat;
        const edge = toLonLat([c[0] + g.getRadius(), c[1]]);
        out.push({ circle: { center, radius_m: Math.round(getDistance(center, edge) * 10) / 10 } });
      } else if (g instanceof Polygon) {
        const ring = g.getCoordinates()[0].map((p) => {
          const [lng, lat] = toLonLat(p);
          return [Math.round(lng * 1e7) / 1e7, Math.round(lat * 1e7) / 1e7] as LngLat;
        });
        ring.pop(); // closed in OpenLayers, open on the wire
        out.push({ polygon: ring });
      }
    }
    return out;
  }

  /// Puts an intent's extents on the drawing layer to edit them.
  setDraft(extents: Extent[]) {
    this.draftSrc.clear();
    for (const e of extents) {
      if (e.circle) {
        const c = fromLonLat(e.circle.center);
        const r = e.circle.radius_m / Math.cos((e.circle.center[1] * Math.PI) / 180);
        this.draftSrc.addFeature(new Feature(new CircleGeom(c, r)));
      } else {
        this.draftSrc.addFeature(new Feature(extentGeometry(e)));
      }
    }
  }

  clearDraft() {
    this.stopDraw();
    this.draftSrc.clear();
  }

  /// Redraws the intents layer (selection changed).
  refreshIntents() {
    this.intentsSrc.changed();
  }

  /// Resolves once the map has drawn everything (for measurements).
  renderComplete(): Promise<number> {
    return new Promise((resolve) => {
      this.map.once('rendercomplete', () => resolve(performance.now()));
      this.map.render();
    });
  }
}

export type { Overlap };
