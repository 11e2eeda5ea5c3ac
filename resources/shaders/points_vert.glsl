#version 330 core
// "points" display mode: each splat centre as a GL point in its SH colour.
#include "splat_common.glsl"

uniform float u_point_size;
flat out vec3 v_color;

void main() {
    int i = gl_VertexID;  // drawn with the order as the index buffer
    vec4 g0 = fetch(u_geom, 3 * i);
    vec3 t = u_view_rot * g0.xyz + u_view_t;
    uint state = splat_state(i);
    if (!(t.z > NEAR_PLANE) || g0.w < ALPHA_MIN || (state & STATE_GONE) != 0u) { gl_Position = CULLED; gl_PointSize = 1.0; return; }
    vec2 m = vec2(u_intrinsics.x * t.x / t.z + u_intrinsics.z, u_intrinsics.y * t.y / t.z + u_intrinsics.w);
    gl_Position = pixel_to_clip(m);
    gl_PointSize = u_point_size;
    v_color = sh_color(i, g0.xyz - u_cam_pos);
    if ((state & STATE_SELECTED) != 0u) v_color = mix(v_color, SELECT_TINT, SELECT_MIX);
}
