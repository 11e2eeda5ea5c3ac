// Shared by the splat and point programs: texture fetches, SH colour, EWA projection.
// ALGORITHMS.md §6.1-6.2 and §6.5; the projection mirrors engine/render/projection.py exactly.

uniform sampler2D u_geom;  // RGBA32F, 3 texels per splat: (mean.xyz, opacity), (s00 s01 s02 s11), (s12 s22 - -)
uniform sampler2D u_sh;    // RGBA32F, u_sh_stride texels per splat: SH coefficients, RGB interleaved, DC first
uniform int u_tex_shift;   // log2 of the texture width (both textures)
uniform int u_sh_stride;   // texels per splat in u_sh: 1, 3, 7 or 12 for degree 0..3
uniform int u_sh_degree;   // bands evaluated: min(sh_degree_limit, scene degree)

uniform mat3 u_view_rot;   // world -> camera rotation (OpenCV axes)
uniform vec3 u_view_t;     // world -> camera translation
uniform vec3 u_cam_pos;    // camera centre in world space (SH view direction)
uniform vec4 u_intrinsics; // fx, fy, cx, cy in pixels (pixel centres at integer + 0.5)
uniform vec2 u_size;       // target width, height in pixels
uniform float u_scale2;    // splat_scale^2: the covariance scales with the square
uniform bool u_antialiased;
uniform usampler2D u_state; // R8UI, 1 texel per splat: engine.edit state bits (1 selected, 2 hidden, 4 deleted)

const float NEAR_PLANE = 0.01;
const float FAR_PLANE = 1e10;
const float EPS2D = 0.3;
const float ALPHA_MIN = 1.0 / 255.0;

const float SH_C0 = 0.28209479177387814;
const float SH_C1 = 0.4886025119029199;
const float SH_C2[5] = float[5](1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                                -1.0925484305920792, 0.5462742152960396);
const float SH_C3[7] = float[7](-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                                0.3731763325901154, -0.4570457994644658, 1.445305721320277,
                                -0.5900435899266435);

vec4 fetch(sampler2D tex, int i) {
    int mask = (1 << u_tex_shift) - 1;
    return texelFetch(tex, ivec2(i & mask, i >> u_tex_shift), 0);
}

// The splat's edit state bits (0 for an unedited scene).
uint splat_state(int i) {
    int mask = (1 << u_tex_shift) - 1;
    return texelFetch(u_state, ivec2(i & mask, i >> u_tex_shift), 0).r;
}

const uint STATE_SELECTED = 1u;
const uint STATE_GONE = 6u;  // hidden or deleted: not drawn
const vec3 SELECT_TINT = vec3(1.0, 0.5, 0.0);  // selected splats: their colour mixed with orange
const float SELECT_MIX = 0.6;

// colour = 0.5 + sum_k SH_k(d) c_k, clamped >= 0 (engine/render/sh.py; ALGORITHMS.md §6.5).
// Coefficient k starts at float 3k: every 4 coefficients fill 3 texels.
vec3 sh_color(int splat, vec3 dir) {
    int base = splat * u_sh_stride;
    vec4 t0 = fetch(u_sh, base);
    vec3 c = SH_C0 * t0.xyz;
    if (u_sh_degree >= 1) {
        vec3 d = dir / max(length(dir), 1e-12);
        float x = d.x, y = d.y, z = d.z;
        vec4 t1 = fetch(u_sh, base + 1), t2 = fetch(u_sh, base + 2);
        c += -SH_C1 * y * vec3(t0.w, t1.xy) + SH_C1 * z * vec3(t1.zw, t2.x) - SH_C1 * x * t2.yzw;
        if (u_sh_degree >= 2) {
            vec4 t3 = fetch(u_sh, base + 3), t4 = fetch(u_sh, base + 4);
            vec4 t5 = fetch(u_sh, base + 5), t6 = fetch(u_sh, base + 6);
            float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
            c += SH_C2[0] * xy * t3.xyz
               + SH_C2[1] * yz * vec3(t3.w, t4.xy)
               + SH_C2[2] * (2.0 * zz - xx - yy) * vec3(t4.zw, t5.x)
               + SH_C2[3] * xz * t5.yzw
               + SH_C2[4] * (xx - yy) * t6.xyz;
            if (u_sh_degree >= 3) {
                vec4 t7 = fetch(u_sh, base + 7), t8 = fetch(u_sh, base + 8);
                vec4 t9 = fetch(u_sh, base + 9), t10 = fetch(u_sh, base + 10), t11 = fetch(u_sh, base + 11);
                c += SH_C3[0] * y * (3.0 * xx - yy) * vec3(t6.w, t7.xy)
                   + SH_C3[1] * xy * z * vec3(t7.zw, t8.x)
                   + SH_C3[2] * y * (4.0 * zz - xx - yy) * t8.yzw
                   + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * t9.xyz
                   + SH_C3[4] * x * (4.0 * zz - xx - yy) * vec3(t9.w, t10.xy)
                   + SH_C3[5] * z * (xx - yy) * vec3(t10.zw, t11.x)
                   + SH_C3[6] * x * (xx - 3.0 * yy) * t11.yzw;
            }
        }
    }
    return max(c + 0.5, vec3(0.0));
}

// Image coordinates (pixels, y down) -> clip space (GL window y is up).
vec4 pixel_to_clip(vec2 p) {
    return vec4(2.0 * p.x / u_size.x - 1.0, 1.0 - 2.0 * p.y / u_size.y, 0.0, 1.0);
}

// A position GL clips away entirely (z > w): where culled points go.
const vec4 CULLED = vec4(0.0, 0.0, 2.0, 1.0);

struct Splat2D {
    vec3 mean;     // world-space centre
    vec3 t;        // camera-space centre
    vec2 mean2d;   // pixel coordinates of the centre (y down)
    vec3 cov;      // dilated 2D covariance (a, b, c) in px^2
    vec3 conic;    // its inverse (a, b, c): sigma = 0.5 (a dx^2 + c dy^2) + b dx dy
    float opacity; // activated, times the antialiasing compensation when enabled
};

// EWA projection with the guard-band clamp, 0.3 px^2 dilation and optional antialiasing
// compensation (ALGORITHMS.md §6.2 steps 1-5). Returns false when the engine would cull it.
bool project_splat(int i, out Splat2D s) {
    vec4 g0 = fetch(u_geom, 3 * i);
    vec3 t = u_view_rot * g0.xyz + u_view_t;
    s.mean = g0.xyz;
    s.t = t;
    if (!(t.z > NEAR_PLANE && t.z < FAR_PLANE)) return false;
    vec4 g1 = fetch(u_geom, 3 * i + 1), g2 = fetch(u_geom, 3 * i + 2);
    mat3 sigma = u_scale2 * mat3(g1.x, g1.y, g1.z, g1.y, g1.w, g2.x, g1.z, g2.x, g2.y);
    mat3 cov_c = u_view_rot * sigma * transpose(u_view_rot);
    float fx = u_intrinsics.x, fy = u_intrinsics.y, cx = u_intrinsics.z, cy = u_intrinsics.w;
    float tan_fovx = 0.5 * u_size.x / fx, tan_fovy = 0.5 * u_size.y / fy;
    float lim_x_pos = (u_size.x - cx) / fx + 0.3 * tan_fovx;
    float lim_x_neg = cx / fx + 0.3 * tan_fovx;
    float lim_y_pos = (u_size.y - cy) / fy + 0.3 * tan_fovy;
    float lim_y_neg = cy / fy + 0.3 * tan_fovy;
    float tz = t.z;
    float txc = tz * clamp(t.x / tz, -lim_x_neg, lim_x_pos);
    float tyc = tz * clamp(t.y / tz, -lim_y_neg, lim_y_pos);
    vec3 j1 = vec3(fx / tz, 0.0, -fx * txc / (tz * tz));
    vec3 j2 = vec3(0.0, fy / tz, -fy * tyc / (tz * tz));
    vec3 cj1 = cov_c * j1, cj2 = cov_c * j2;
    float a0 = dot(j1, cj1), b0 = dot(j1, cj2), c0 = dot(j2, cj2);
    float det_orig = a0 * c0 - b0 * b0;
    float a = a0 + EPS2D, c = c0 + EPS2D;
    float det = a * c - b0 * b0;
    if (!(det > 0.0)) return false;
    s.cov = vec3(a, b0, c);
    s.conic = vec3(c, -b0, a) / det;
    s.mean2d = vec2(fx * t.x / tz + cx, fy * t.y / tz + cy);
    float op = g0.w;
    if (u_antialiased) op *= sqrt(max(det_orig / det, 0.0));
    s.opacity = op;
    return op >= ALPHA_MIN;
}
