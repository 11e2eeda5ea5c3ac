#version 330 core
// A/B difference heat map: the per-pixel error |A - B| of the two sides' images (each as the
// viewport shows it: 8 bits per channel, background included), reduced over RGB, divided by the
// full-scale value and mapped through inferno (black where A and B agree). Pixels outside the
// compared rectangle (a photo covers only its camera's image rectangle of the view) are grey.
#include "colormap.glsl"
uniform sampler2D u_a;  // RGBA8, the target's size: side A (left in split view)
uniform sampler2D u_b;  // side B
uniform ivec2 u_offset;  // where the images' bottom-left pixel lies in the target
uniform float u_full_scale;  // the error drawn at the top of the colormap
uniform int u_reduce;  // 0: mean of the three channels' |A - B|, 1: their maximum
uniform ivec4 u_compared;  // pixels compared, in the images: x0, y0, x1, y1 (ends excluded)
out vec4 frag;

const vec3 NOT_COMPARED = vec3(0.25);

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy) - u_offset;
    if (any(lessThan(p, u_compared.xy)) || any(greaterThanEqual(p, u_compared.zw))) {
        frag = vec4(NOT_COMPARED, 1.0);
        return;
    }
    vec3 d = abs(texelFetch(u_a, p, 0).rgb - texelFetch(u_b, p, 0).rgb);
    float e = u_reduce == 1 ? max(d.r, max(d.g, d.b)) : (d.r + d.g + d.b) / 3.0;
    frag = vec4(inferno(e / u_full_scale), 1.0);
}
