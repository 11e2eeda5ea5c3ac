#version 330 core
// Gaussian falloff with the true conic, the engine's alpha rule, premultiplied output
// (ALGORITHMS.md §6.3; engine/render/composite.py): alpha = min(u_alpha_max, o exp(-sigma)),
// skipped below 1/255. Blending "under" (near to far) accumulates sum c alpha T.

uniform vec2 u_size;  // target size in pixels: image y = height - window y
uniform int u_mode;   // 0 colour, 1 depth, 3 ellipses
uniform float u_alpha_max;  // engine.render.projection.ALPHA_MAX, the engine's clamp

flat in vec2 v_mean2d;
flat in vec3 v_conic;
flat in vec3 v_color;
flat in float v_opacity;

out vec4 frag;

const float ALPHA_MIN = 1.0 / 255.0;

void main() {
    // pixel centre in image coordinates (gl_FragCoord is at integer + 0.5, y up)
    vec2 d = vec2(gl_FragCoord.x, u_size.y - gl_FragCoord.y) - v_mean2d;
    float sigma = 0.5 * (v_conic.x * d.x * d.x + v_conic.z * d.y * d.y) + v_conic.y * d.x * d.y;
    float alpha;
    if (u_mode == 3) {
        // outline of the 2 sigma ellipse: a ring about one pixel wide
        float r = sqrt(max(2.0 * sigma, 0.0));
        float w = max(fwidth(r), 1e-6);
        alpha = 0.9 * (1.0 - smoothstep(0.5, 1.25, abs(r - 2.0) / w));
    } else {
        alpha = min(u_alpha_max, v_opacity * exp(-sigma));
        if (sigma < 0.0) discard;
    }
    if (alpha < ALPHA_MIN) discard;
    frag = vec4(v_color * alpha, alpha);
}
