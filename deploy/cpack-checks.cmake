# Read by cpack (CPACK_PROJECT_CONFIG_FILE): refuse to package a tree that was not configured
# for packages, whose scheduler would send agents to the wrong executor path.
if(NOT CPACK_FACTORIAL_DEB_PACKAGES)
  message(FATAL_ERROR "this build tree is not configured for packages: use deploy/build-packages.sh "
                      "(or -DFACTORIAL_DEB_PACKAGES=ON -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo)")
endif()
