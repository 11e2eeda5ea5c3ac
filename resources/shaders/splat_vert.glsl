#version 330 core
// Per splat, once (ALGORITHMS.md §6.2): drawn as GL_POINTS with the near-to-far order as the index
// buffer, so gl_VertexID is the splat index. Projects the splat exactly like
// engine/render/projection.py and hands its screen ellipse (centre, eigen half-axes, conic, colour,
// opacity) to splat_geom.glsl, which emits the covering polygon.
#include "splat_common.glsl"

uniform int u_mode;         // 0 colour, 1 depth, 3 ellipses, 4 depth values (front-layer picking)
uniform vec2 u_depth_range; // depth mode: view depths mapped to 0..1 of the colormap

out vec4 g_quad0;   // mean2d.xy, first half-axis.xy (pixels)
out vec4 g_quad1;   // second half-axis.xy, visible (1 or 0), opacity
out vec3 g_conic;
out vec3 g_color;

const float MAX_AXIS = 32768.0;  // px: only guards against inf; the engine does not clamp

// Google's Turbo colormap, polynomial fit (Mikhailov 2019).
vec3 turbo(float x) {
    const vec4 kr4 = vec4(0.13572138, 4.61539260, -42.66032258, 132.13108234);
    const vec4 kg4 = vec4(0.09140261, 2.19418839, 4.84296658, -14.18503333);
    const vec4 kb4 = vec4(0.10667330, 12.64194608, -60.58204836, 110.36276771);
    const vec2 kr2 = vec2(-152.94239396, 59.28637943);
    const vec2 kg2 = vec2(4.27729857, 2.82956604);
    const vec2 kb2 = vec2(-89.90310912, 27.34824973);
    x = clamp(x, 0.0, 1.0);
    vec4 v4 = vec4(1.0, x, x * x, x * x * x);
    vec2 v2 = v4.zw * v4.z;
    return vec3(dot(v4, kr4) + dot(v2, kr2), dot(v4, kg4) + dot(v2, kg2), dot(v4, kb4) + dot(v2, kb2));
}

void main() {
    int i = gl_VertexID;  // drawn with the order as the index buffer
    g_quad1 = vec4(0.0);
    uint state = splat_state(i);
    if ((state & STATE_GONE) != 0u) return;  // hidden or deleted (also left out of the order)
    Splat2D s;
    if (!project_splat(i, s)) return;
    float a = s.cov.x, b = s.cov.y, c = s.cov.z;
    // alpha >= 1/255  <=>  sigma <= ln(255 o): the engine's exact footprint (no truncation)
    float level = log(s.opacity / ALPHA_MIN);
    float ext = min(sqrt(2.0 * level), 3.33);
    // the engine's bounding-box visibility test (projection.py)
    vec2 r = ceil(ext * sqrt(vec2(a, c)));
    vec2 m = s.mean2d;
    if ((r.x <= 0.0 && r.y <= 0.0) || m.x + r.x <= 0.0 || m.x - r.x >= u_size.x
        || m.y + r.y <= 0.0 || m.y - r.y >= u_size.y) return;
    // eigen decomposition (§6.2 step 6)
    float mid = 0.5 * (a + c);
    float rad = sqrt(max(0.25 * (a - c) * (a - c) + b * b, 0.0));
    float l1 = mid + rad, l2 = max(mid - rad, 0.0);
    vec2 e1 = vec2(b, l1 - a), e1b = vec2(l1 - c, b);
    vec2 v1 = dot(e1, e1) >= dot(e1b, e1b) ? e1 : e1b;
    v1 = dot(v1, v1) > 0.0 ? normalize(v1) : vec2(1.0, 0.0);
    vec2 v2 = vec2(-v1.y, v1.x);
    // quad half-axes: the alpha >= 1/255 ellipse (or 2 sigma plus a line width for outlines)
    float k = (u_mode == 3) ? 2.0 : sqrt(2.0 * level);
    float margin = (u_mode == 3) ? 2.0 : 0.05;
    vec2 ax1 = min(k * sqrt(l1) + margin, MAX_AXIS) * v1;
    vec2 ax2 = min(k * sqrt(l2) + margin, MAX_AXIS) * v2;
    g_quad0 = vec4(m, ax1);
    g_quad1 = vec4(ax2, 1.0, s.opacity);
    g_conic = s.conic;
    if (u_mode == 1) {
        float span = max(u_depth_range.y - u_depth_range.x, 1e-12);
        g_color = turbo((s.t.z - u_depth_range.x) / span);
    } else if (u_mode == 4) {
        g_color = vec3(s.t.z);  // accumulates sum z alpha T: the expected depth once divided by alpha
        return;
    } else {
        g_color = sh_color(i, s.mean - u_cam_pos);
    }
    if ((state & STATE_SELECTED) != 0u) g_color = mix(g_color, SELECT_TINT, SELECT_MIX);
}
