#version 330 core
// The difference heat map's colour bar: 0 at the left edge of u_rect, full scale at the right.
#include "colormap.glsl"
uniform vec4 u_rect;  // x, y, width, height in target pixels (origin bottom-left)
out vec4 frag;

void main() {
    frag = vec4(inferno((gl_FragCoord.x - u_rect.x) / u_rect.z), 1.0);
}
